"""Input keys of the fitting networks (``model.fitting_net``): ener, dipole, polar."""

from dptensor.config.fragment import (BOOL, NUMBER, OPTIONAL, TYPE_INDICES, component, key,
                                      network_keys, variants)

ALL_TYPES = "all types"


def _common():
    return network_keys([120, 120, 120], True, "Whether the fitting network is updated in training.",
                        neuron_aliases=["n_neuron"])


def _sel_type(alias):
    return key(TYPE_INDICES, OPTIONAL, "Atom types (indices into type_map) that carry an atomic "
               "tensor; atoms of other types contribute zero.", aliases=[alias],
               optional_note=ALL_TYPES)


# DeePMD-kit keys for frame and atomic parameters; dptensor has no such inputs, so only 0 is safe
_NO_PARAMS = {"numb_fparam": 0, "numb_aparam": 0, "dim_case_embd": 0}

ENER = component(
    "Energy fitting: E = sum_i F(D_i) + b_{type i}, one network per atom type; forces and virial "
    "are derivatives of E.",
    {
        **_common(),
        "rcond": key({"type": ["number", "null"]}, None, "Cutoff on small singular values in the "
                     "least-squares fit of the per-type energy bias; null uses machine precision."),
        "atom_ener": key({"type": "array", "items": {"type": ["number", "null"]}}, [],
                         "Energy of an isolated atom of each type (null: not fixed); empty fixes none."),
        "atom_exclude_types": key(TYPE_INDICES, [], "Atom types whose atomic energy is forced to "
                                  "zero."),
    },
    unsupported_unless=_NO_PARAMS,
)

DIPOLE = component(
    "Dipole fitting: the atomic dipole is p_i = F(D_i)^T g_i, with g_i = (G_i^T R~_i)[:, 1:4] "
    "(m x 3), so it rotates as a vector; the frame dipole is the sum over the selected atoms.",
    {**_common(), "sel_type": _sel_type("dipole_type")},
    unsupported_unless=_NO_PARAMS,
)

POLAR = component(
    "Polarizability fitting: the atomic tensor is a_i = scale_t g_i^T M_i g_i + shift_t I, with "
    "M_i = F(D_i) a symmetric m x m matrix, so it rotates as R a R^T; the frame tensor is the sum "
    "over the selected atoms.",
    {
        **_common(),
        "sel_type": _sel_type("pol_type"),
        "fit_diag": key(BOOL, True, "If true M_i is diagonal (m numbers per atom) instead of a "
                        "full symmetric matrix."),
        "scale": key({"anyOf": [{"title": "a number", **NUMBER},
                                {"title": "a list of numbers (one per type)", "type": "array",
                                 "items": NUMBER}]},
                     1.0, "Factor multiplying the output tensor, one for all types or one per type."),
        "shift_diag": key(BOOL, True, "If true add a per-type constant shift_t to the diagonal, "
                          "estimated from the training data."),
    },
    unsupported_unless=_NO_PARAMS,
)

FITTING = variants(
    "Fitting network: maps each atom's descriptor to its contribution to the fitted property.",
    {"ener": ENER, "dipole": DIPOLE, "polar": POLAR},
    type_doc="Property fitted: energy, dipole (vector) or polarizability (3 x 3 tensor).",
    type_default="ener",
)

TENSOR_FITTINGS = ("dipole", "polar")
