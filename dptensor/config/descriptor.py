"""Input keys of the descriptors (``model.descriptor``); only ``se_e2_a`` so far."""

from dptensor.config.fragment import (BOOL, INT_GE0, INT_GE1, NUMBER_GE0, NUMBER_GT0, REQUIRED,
                                      component, key, network_keys, variants)

AUTO_SEL_FACTOR = 1.1  # safety factor of sel = "auto": max neighbor count in the data times this

SEL = {
    "anyOf": [
        {"title": "a list of int (one per type)", "type": "array", "items": INT_GE0},
        {"title": "'auto' or 'auto:<factor>'", "type": "string",
         "pattern": r"^auto(:[0-9]+(\.[0-9]*)?)?$"},
    ],
}
TYPE_PAIRS = {"type": "array",
              "items": {"type": "array", "items": INT_GE0, "minItems": 2, "maxItems": 2}}

SE_E2_A = component(
    "Smooth edition of the Deep Potential descriptor built from the full relative coordinates "
    "(radial and angular) of the neighbors: D = (G^T R~)(R~^T G<), where R~ (nnei x 4) holds "
    "s(r) * (1, x/r, y/r, z/r) and G (nnei x neuron[-1]) is the embedding network of s(r).",
    {
        "sel": key(SEL, REQUIRED, "Maximum number of neighbors of each type within rcut; 'auto' "
                   f"takes the largest count found in the training data times {AUTO_SEL_FACTOR}, "
                   "'auto:<factor>' times the given factor."),
        "rcut": key(NUMBER_GT0, 6.0, "Cutoff radius in Angstrom; farther neighbors are ignored."),
        "rcut_smth": key(NUMBER_GE0, 0.5, "Radius in Angstrom where the switching function s(r) "
                         "starts to bring 1/r smoothly to zero at rcut."),
        **network_keys([10, 20, 40], False, "Whether the embedding network is updated in training."),
        "axis_neuron": key(INT_GE1, 4, "Number M2 of embedding columns in G< (the descriptor has "
                           "neuron[-1] * axis_neuron entries per atom).", aliases=["n_axis_neuron"]),
        "type_one_side": key(BOOL, False, "If true the embedding network depends on the neighbor "
                             "type only; if false on the pair (center type, neighbor type)."),
        "exclude_types": key(TYPE_PAIRS, [], "Pairs of types [ti, tj] whose interactions are "
                             "removed from the descriptor."),
        "set_davg_zero": key(BOOL, False, "If true the mean of the environment matrix used for "
                             "normalization is zero instead of computed from the data."),
        "env_protection": key(NUMBER_GE0, 0.0, "Small length in Angstrom added to distances in the "
                              "environment matrix so that overlapping atoms do not divide by zero."),
    },
)

DESCRIPTOR = variants(
    "Descriptor: maps the neighborhood of each atom to a vector invariant under rotation, "
    "translation and permutation of same-type neighbors.",
    {"se_e2_a": SE_E2_A},
    type_doc="Kind of descriptor.",
    type_aliases={"se_a": "se_e2_a"},
)
