"""Input keys of the loss (``loss``): ener for energy models, tensor for dipole, polar and tensor
models."""

from dptensor.config.fragment import BOOL, NUMBER_GE0, NUMBER_GT0, OPTIONAL, REQUIRED, component, key, variants

# (label, what it weighs, default start prefactor, default limit prefactor)
_ENER_TERMS = (
    ("e", "energy per atom", 0.02, 1.0),
    ("f", "force", 1000, 1.0),
    ("v", "virial per atom", 0, 0),
    ("ae", "atomic energy", 0, 0),
    ("h", "Hessian", 0, 0),
)


def _prefactor_keys():
    keys = {}
    for label, what, start, limit in _ENER_TERMS:
        keys[f"start_pref_{label}"] = key(NUMBER_GE0, start, f"Prefactor of the {what} term at the "
                                          "start of training (0 leaves the term out).")
        keys[f"limit_pref_{label}"] = key(NUMBER_GE0, limit, f"Prefactor of the {what} term when the "
                                          "learning rate has decayed to zero.")
    keys["intensive_ener_virial"] = key(
        BOOL, False, "Weigh the energy and virial terms by 1/N^2 (N atoms), so that their weight "
        "does not grow with the system size; false (DeePMD-kit's default) weighs them by 1/N.")
    return keys


ENER = component(
    "Energy loss: sum over terms of p(t) * mean squared error, where each prefactor moves with the "
    "learning rate, p(t) = limit + (start - limit) * lr(t) / start_lr.",
    _prefactor_keys(),
    # DeePMD-kit terms dptensor does not implement; their neutral values leave the loss unchanged
    unsupported_unless={"start_pref_pf": 0, "limit_pref_pf": 0, "start_pref_gf": 0,
                        "limit_pref_gf": 0, "numb_generalized_coord": 0, "relative_f": None,
                        "enable_atom_ener_coeff": False, "use_huber": False, "use_default_pf": False,
                        "f_use_norm": False, "loss_func": "mse"},
    ignored=["huber_delta"],  # used only with use_huber
)

TENSOR = component(
    "Tensor loss of dipole, polar and tensor models: pref * mean f(frame tensor error / n_sel) + "
    "pref_atomic * mean f(atomic tensor error), with f(d) = d^2 ('mse') or the Huber function "
    "('huber': d^2/2 for |d| <= huber_delta, huber_delta (|d| - huber_delta/2) beyond); "
    "lcurve.out reports RMSEs either way.",
    {
        "pref": key(NUMBER_GE0, REQUIRED, "Weight of the error of the frame tensor (the sum over "
                    "the selected atoms)."),
        "pref_atomic": key(NUMBER_GE0, REQUIRED, "Weight of the error of the atomic tensors."),
        "loss_func": key({"type": "string", "enum": ["mse", "huber"]}, "mse",
                         "Function of the residual: 'mse' squares it, 'huber' is quadratic up to "
                         "huber_delta and linear beyond (robust to outliers)."),
        "huber_delta": key(NUMBER_GT0, 1.0, "Residual at which the huber function turns linear, "
                           "in the unit of the tensor (for the frame tensor: per selected atom)."),
    },
    unsupported_unless={"enable_atomic_weight": False},  # DeePMD-kit's per-atom weights (atom_weight.npy)
)

LOSS = variants(
    "Loss function minimized in training.",
    {"ener": ENER, "tensor": TENSOR},
    type_doc="Kind of loss; it must match the fitting: 'ener' for ener, 'tensor' for dipole, polar "
             "and tensor.",
    type_default=OPTIONAL,
    type_note="'ener' for an ener fitting, 'tensor' for dipole, polar and tensor",
    default={},
)
