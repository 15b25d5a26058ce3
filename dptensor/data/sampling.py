"""Batch sizes and system probabilities of DeePMD-kit's ``training_data`` / ``validation_data``.

Errors are InputError messages starting with the input.json path given as ``where``.
"""

import numpy as np

from dptensor.errors import InputError

AUTO_BATCH_ATOMS = 32  # "auto": at least this many atoms per batch (DeePMD-kit's default rule)


def _atoms_rule(spec, where):
    """The N of 'auto:N' / 'max:N' (a positive int)."""
    try:
        value = int(spec.split(":", 1)[1])
    except ValueError:
        value = 0
    if value <= 0:
        raise InputError([f"{where}.batch_size: the number in {spec!r} must be a positive "
                          "integer"])
    return value


def resolve_batch_sizes(spec, natoms, where="training.training_data"):
    """Batch size of each system (list of int) from the ``batch_size`` key.

    spec: int, list of int (one per system), "auto" / "auto:N" (smallest bs with
    bs * natoms >= N, N = 32 for "auto") or "max:N" (largest bs with bs * natoms <= N, >= 1);
    natoms: atoms per frame of each system.
    """
    if isinstance(spec, bool):
        pass  # bool is an int subclass, never a batch size
    elif isinstance(spec, (int, np.integer)):
        if spec > 0:
            return [int(spec)] * len(natoms)
    elif isinstance(spec, (list, tuple)):
        if len(spec) != len(natoms):
            raise InputError([f"{where}.batch_size: {len(spec)} batch sizes for {len(natoms)} "
                              "systems; give one per system, or one int, or 'auto'"])
        if all(isinstance(b, (int, np.integer)) and not isinstance(b, bool) and b > 0
               for b in spec):
            return [int(b) for b in spec]
    elif isinstance(spec, str):
        if spec == "auto" or spec.startswith("auto:"):
            rule = AUTO_BATCH_ATOMS if spec == "auto" else _atoms_rule(spec, where)
            return [max(1, -(-rule // n)) for n in natoms]  # ceil(rule / natoms)
        if spec.startswith("max:"):
            rule = _atoms_rule(spec, where)
            return [max(1, rule // n) for n in natoms]
    raise InputError([f"{where}.batch_size: expected a positive int, a list of them (one per "
                      f"system), 'auto', 'auto:N' or 'max:N', got {spec!r}"])


def system_probs(nbatches, auto_prob="prob_sys_size", sys_probs=None,
                 where="training.training_data"):
    """Probability of picking each system, from its number of batches (DeePMD-kit rules).

    sys_probs (if given) wins: entries >= 0 are used as given, the probability they leave is
    shared among the negative entries in proportion to their batches. Else auto_prob:
    "prob_uniform", "prob_sys_size" (proportional to batches) or
    "prob_sys_size;stt:end:w;..." (systems stt..end-1 share weight w, by batches inside).
    """
    nb = np.asarray(nbatches, dtype=np.float64)
    if sys_probs is not None:
        return _explicit_probs(sys_probs, nb, where)
    if auto_prob == "prob_uniform":
        return np.full(nb.size, 1.0 / nb.size)
    if auto_prob == "prob_sys_size":
        return nb / nb.sum()
    if isinstance(auto_prob, str) and auto_prob.startswith("prob_sys_size;"):
        return _block_probs(auto_prob, nb, where)
    raise InputError([f"{where}.auto_prob: expected 'prob_uniform', 'prob_sys_size' or "
                      f"'prob_sys_size;stt:end:weight;...', got {auto_prob!r}"])


def _explicit_probs(sys_probs, nb, where):
    probs = np.asarray(sys_probs, dtype=np.float64)
    if probs.shape != nb.shape:
        raise InputError([f"{where}.sys_probs: {probs.size} probabilities for {nb.size} systems"])
    given = probs >= 0
    assigned = probs[given].sum()
    if assigned > 1.0 + 1e-8:
        raise InputError([f"{where}.sys_probs: the probabilities sum to {assigned:g} > 1"])
    rest = 1.0 - assigned
    if (~given).any():
        probs = np.where(given, probs, rest * nb * ~given / (nb * ~given).sum())
    elif not np.isclose(rest, 0.0):
        raise InputError([f"{where}.sys_probs: the probabilities sum to {assigned:g}, not 1 "
                          "(use -1 for systems that should share the rest by size)"])
    return probs / probs.sum()


def _block_probs(spec, nb, where):
    """'prob_sys_size;0:2:0.3;2:5:0.7' -> each block's weight split by batches inside it."""
    probs = np.zeros(nb.size)
    blocks = []
    try:
        for part in spec.split(";")[1:]:
            stt, end, weight = part.split(":")
            blocks.append((int(stt), int(end), float(weight)))
    except ValueError:
        raise InputError([f"{where}.auto_prob: cannot read {spec!r}: expected "
                          "'prob_sys_size;stt:end:weight;...'"]) from None
    total = sum(w for _, _, w in blocks)
    for stt, end, weight in blocks:
        if not (0 <= stt < end <= nb.size) or weight < 0 or total <= 0:
            raise InputError([f"{where}.auto_prob: block {stt}:{end}:{weight} does not fit "
                              f"{nb.size} systems (0 <= stt < end <= {nb.size}, weight >= 0)"])
        probs[stt:end] = weight / total * nb[stt:end] / nb[stt:end].sum()
    if not np.isclose(probs.sum(), 1.0):
        raise InputError([f"{where}.auto_prob: the blocks of {spec!r} overlap"])
    return probs / probs.sum()
