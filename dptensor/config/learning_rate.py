"""Input keys of the learning-rate schedule (``learning_rate``); only ``exp`` so far."""

from dptensor.config.fragment import INT_GE1, NUMBER_GT0, OPTIONAL, component, key, variants

EXP = component(
    "Exponential decay in steps: lr(t) = start_lr * r^floor(t / decay_steps), with the rate r "
    "chosen so that lr reaches stop_lr at training.numb_steps.",
    {
        "start_lr": key(NUMBER_GT0, 1e-3, "Learning rate at the first step."),
        "stop_lr": key(NUMBER_GT0, 1e-8, "Learning rate reached at the last step."),
        "stop_lr_ratio": key(NUMBER_GT0, OPTIONAL, "Sets stop_lr = start_lr * stop_lr_ratio "
                             "(give either this or stop_lr); normalization replaces it by stop_lr.",
                             optional_note="absent (stop_lr applies)"),
        "decay_steps": key(INT_GE1, 5000, "Number of steps between two decays of the learning rate."),
    },
    ignored=["scale_by_worker", "warmup_start_factor"],
    # DeePMD-kit's explicit rate would override the rate computed from stop_lr; no warm-up, no
    # smooth (non-staircase) decay
    unsupported_unless={"decay_rate": None, "warmup_steps": 0, "warmup_ratio": None, "smooth": False},
)

LEARNING_RATE = variants(
    "Learning-rate schedule of the optimizer.",
    {"exp": EXP},
    type_doc="Kind of schedule.",
    type_default="exp",
    default={},
)
