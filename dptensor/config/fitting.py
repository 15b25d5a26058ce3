"""Input keys of the fitting networks (``model.fitting_net``): ener, dipole, polar, tensor."""

from dptensor.config.fragment import (BOOL, NUMBER, OPTIONAL, REQUIRED, TYPE_INDICES, component,
                                      key, network_keys, variants)

ALL_TYPES = "all types"


def _common():
    return network_keys([120, 120, 120], True, "Whether the fitting network is updated in training.",
                        neuron_aliases=["n_neuron"])


def _sel_type(alias=None):
    return key(TYPE_INDICES, OPTIONAL, "Atom types (indices into type_map) that carry an atomic "
               "tensor; atoms of other types contribute zero.", aliases=[alias] if alias else (),
               optional_note=ALL_TYPES)


# DeePMD-kit keys for frame and atomic parameters; dptensor has no such inputs, so only 0 is safe
_NO_PARAMS = {"numb_fparam": 0, "numb_aparam": 0, "dim_case_embd": 0, "default_fparam": None,
              "use_aparam_as_mask": False}

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

# a tensor label names data files and prediction keys: a plain identifier
LABEL_NAME = {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*$",
              "title": "a name of letters, digits and '_' starting with a letter"}

TENSOR = component(
    "General tensor fitting: a rank-1 or rank-2 tensor per selected atom, the sum of the chosen "
    "irreducible parts, each built from the descriptor's rotation matrix so that it holds its "
    "symmetry exactly and rotates as R T R^T; the frame tensor is the sum over the selected atoms. "
    "See doc/tensor.md.",
    {
        **_common(),
        "sel_type": _sel_type(),
        "label": key(LABEL_NAME, REQUIRED, "Name of the tensor: the data files are `<label>.npy` "
                     "(per frame) and `atomic_<label>.npy` (per atom), the predictions `<label>` "
                     "and `atomic_<label>`."),
        "rank": key({"type": "integer", "enum": [1, 2]}, REQUIRED, "Rank of the tensor: 1 (3 "
                    "components per row) or 2 (9 components per row, XX XY XZ YX ... ZZ)."),
        "tensor_components": key(
            {"type": "array", "items": {"type": "integer", "enum": [0, 1, 2]}, "minItems": 1,
             "uniqueItems": True}, OPTIONAL,
            "Irreducible parts predicted: [1] for rank 1; for rank 2 any of 0 (isotropic, c I), 1 "
            "(antisymmetric) and 2 (symmetric traceless): [2] symmetric traceless, [0, 2] "
            "symmetric, [1, 2] traceless, [0, 1, 2] general.",
            optional_note="[1] for rank 1, [0, 1, 2] for rank 2"),
        "fit_diag": key(BOOL, False, "If true the symmetric traceless part is built from a "
                        "diagonal m x m matrix (m numbers per atom) instead of a full symmetric "
                        "one (m^2 numbers)."),
    },
    unsupported_unless=_NO_PARAMS,
)

FITTING = variants(
    "Fitting network: maps each atom's descriptor to its contribution to the fitted property.",
    {"ener": ENER, "dipole": DIPOLE, "polar": POLAR, "tensor": TENSOR},
    type_doc="Property fitted: energy, dipole (vector), polarizability (3 x 3 symmetric tensor) or "
             "tensor (any rank-1 or rank-2 tensor, see doc/tensor.md).",
    type_default="ener",
)

TENSOR_FITTINGS = ("dipole", "polar", "tensor")
# the irreducible parts a tensor of each rank has (the allowed values of tensor_components)
TENSOR_PARTS = {1: (1,), 2: (0, 1, 2)}
