"""Input keys of the model (``model``): types, descriptor, fitting network."""

from dptensor.config.descriptor import DESCRIPTOR
from dptensor.config.fitting import FITTING
from dptensor.config.fragment import INT_GE1, OPTIONAL, REQUIRED, TYPE_INDICES, component, key

MODEL = component(
    "Model: a descriptor of each atom's neighborhood followed by a fitting network.",
    {
        "type_map": key({"type": "array", "items": {"type": "string"}, "minItems": 1}, REQUIRED,
                        "Element names of the atom types; type i of the data is type_map[i]."),
        "descriptor": DESCRIPTOR,
        "fitting_net": FITTING,
        "data_stat_nbatch": key(INT_GE1, 10, "Number of batches used to compute the data "
                                "statistics (normalization and output bias)."),
        "atom_exclude_types": key(TYPE_INDICES, OPTIONAL, "Atom types that contribute nothing; "
                                  "normalization moves it into fitting_net (atom_exclude_types of "
                                  "ener, the complementary sel_type of dipole and polar).",
                                  optional_note="[]"),
    },
    ignored=["data_bias_nsample", "srtab_add_bias", "model_branch_alias", "info", "bridging_r_inner",
             "bridging_r_outer"],
    unsupported_unless={"pair_exclude_types": [], "use_srtab": None, "type": "standard",
                        "preset_out_bias": None, "data_stat_protect": 0.01, "bridging_method": "None"},
)
