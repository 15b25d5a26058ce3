"""Input keys of the training loop (``training``), its training and validation data."""

from dptensor.config.fragment import (BOOL, INT_GE0, INT_GE1, NUMBER_GE0, NUMBER_GT0, REQUIRED,
                                      SEED, STRING, component, key)

AUTO_BATCH_ATOMS = 32  # batch_size "auto": enough frames for at least this many atoms

SYSTEMS = {"anyOf": [{"title": "a string", **STRING},
                     {"title": "a list of strings", "type": "array", "items": STRING}]}
BATCH_SIZE = {"anyOf": [
    {"title": "an int >= 1", **INT_GE1},
    {"title": "a list of int (one per system)", "type": "array", "items": INT_GE1},
    {"title": "'auto' or 'auto:<N>'", "type": "string", "pattern": "^auto(:[1-9][0-9]*)?$"},
]}


def _data_keys():
    return {
        "systems": key(SYSTEMS, REQUIRED, "Data systems: a list of system folders, or one folder "
                       "searched recursively for systems."),
        "batch_size": key(BATCH_SIZE, "auto", "Frames per batch: one number, one per system, or "
                          f"'auto:N' (enough frames for N atoms; 'auto' means N = {AUTO_BATCH_ATOMS})."),
        "auto_prob": key({"type": "string", "enum": ["prob_sys_size", "prob_uniform"]},
                         "prob_sys_size", "How often each system is drawn: in proportion to its "
                         "number of frames, or uniformly.", aliases=["auto_prob_style"]),
        "sys_probs": key({"type": ["array", "null"], "items": NUMBER_GE0}, None,
                         "Relative probability of drawing each system; overrides auto_prob."),
        "fmt": key({"type": ["string", "null"]}, None, "dpdata format name of the systems; null "
                   "reads DeePMD-kit npy, raw or hdf5 data."),
    }


_DATA_NEUTRAL = {"rglob_patterns": None, "min_pair_dist": 0.0}  # DeePMD-kit keys at their defaults

TRAINING_DATA = component("Data the model is trained on.", _data_keys(), unsupported_unless=_DATA_NEUTRAL)

VALIDATION_DATA = component(
    "Data the model is evaluated on at each display step; null reports training errors only.",
    {**_data_keys(), "numb_btch": key(INT_GE1, 1, "Number of batches averaged per evaluation.",
                                      aliases=["numb_batch"])},
    default=None, nullable=True, unsupported_unless=_DATA_NEUTRAL,
)

TRAINING = component(
    "Training loop: data, number of steps, display and checkpoints.",
    {
        "training_data": TRAINING_DATA,
        "validation_data": VALIDATION_DATA,
        "numb_steps": key(INT_GE0, REQUIRED, "Number of optimizer steps.", aliases=["stop_batch"]),
        "seed": key(SEED, None, "Random seed of batch sampling; null draws one at random."),
        "disp_file": key(STRING, "lcurve.out", "File the learning curve is written to."),
        "disp_freq": key(INT_GE1, 1000, "Steps between two lines of the learning curve."),
        "save_freq": key(INT_GE1, 1000, "Steps between two checkpoints."),
        "save_ckpt": key(STRING, "model.ckpt", "Path prefix of the checkpoint files."),
        "max_ckpt_keep": key(INT_GE1, 5, "Number of most recent checkpoints kept on disk."),
        "gradient_max_norm": key({"anyOf": [{"title": "a number > 0", **NUMBER_GT0},
                                            {"title": "null", "type": "null"}]}, None,
                                 "Clip the gradient to this 2-norm before each step; null does not "
                                 "clip."),
        "disp_training": key(BOOL, True, "Whether progress is printed during training."),
        "time_training": key(BOOL, True, "Whether the time per step is printed during training."),
    },
    ignored=["tensorboard", "tensorboard_log_dir", "tensorboard_freq", "profiling",
             "profiling_file", "enable_profiler", "mixed_precision", "numb_test", "stat_file",
             "stat_file_mode", "zero_stage", "neighbor_graph_method", "enable_compile", "enable_tf32",
             "ema_decay", "ema_ckpt_keep"],
    unsupported_unless={"opt_type": "Adam", "change_bias_after_training": False, "save_dir": None,
                        "ckpt_keep_ratio": None, "enable_ema": False, "disp_avg": False, "acc_freq": 1},
)
