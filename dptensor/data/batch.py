"""Batches of frames drawn from several systems, with cached neighbor lists.

Sampling follows DeePMD-kit: each step picks one system (probability proportional to its number
of batches for "prob_sys_size", uniform for "prob_uniform", or given ``sys_probs``), then the next
``batch_size`` frames of that system in a shuffled order that is redrawn at each of its epochs.
A batch is a dict of numpy arrays keyed by ``keys`` names (see :meth:`DataSystemSet.batch`).
"""

import logging

import numpy as np

from dptensor.data import keys
from dptensor.data.mirror import mirror_slots
from dptensor.data.neighbor import build_neighbor_list, shift_from_image, small_int_dtype
from dptensor.data.sampling import resolve_batch_sizes, system_probs
from dptensor.errors import InputError

log = logging.getLogger(__name__)

NATOMS = "natoms"  # int, atoms per frame of the batch (one system per batch)
SYSTEM = "system"  # str, path of the batch's system


def _index_dtype(bound):
    """The narrowest signed int type that holds -1 and every index below ``bound``. The 240
    training frames of the water energy example (192 atoms, 138 slots) keep lists and mirror slots
    in int16: 25 MB instead of 51 in int32."""
    return small_int_dtype(bound)


class NlistCache:
    """Neighbor lists of one system's frames, built on first use (frames never move in training).

    The integer image is cached rather than the float shift: 3 bytes instead of 24 per slot.
    So are the mirror slots (``dptensor.data.mirror``) that let a same-type pair share one
    embedding evaluation.
    With ``centers`` (sorted atom indices), the lists are those of these atoms only (a dipole
    or polar model evaluates only its atoms of sel_type).
    """

    def __init__(self, system, rcut, sel, centers=None):
        self.system, self.rcut, self.sel, self.centers = system, rcut, list(sel), centers
        self.nlist = None  # nf x nat x nnei, the narrowest int type for the atom count; allocated on first use
        self.image = None  # nf x nat x nnei x 3, int8 unless a frame needs wider
        self.mirror = None  # nf x nat x nnei, the narrowest int type for rows x largest sel
        self.built = np.zeros(system.nframes, bool)
        self.dropped = np.zeros(len(self.sel), np.int64)  # summed over built frames
        self.min_dist = np.inf  # smallest neighbor distance over built frames
        self._warned = False

    def get(self, frames):
        """(nlist int64, image, mirror int64) of the given frame indices, building the missing
        ones."""
        frames = np.asarray(frames, dtype=np.int64)
        todo = np.unique(frames[~self.built[frames]])
        if todo.size:
            self._build(todo)
        nlist, mirror = (a[frames].astype(np.int64) for a in (self.nlist, self.mirror))
        return nlist, self.image[frames], mirror

    def _build(self, todo):
        s = self.system
        box = None if s.box is None else s.box[todo]
        res = build_neighbor_list(s.coord[todo], box, s.atype, self.rcut, self.sel, self.centers)
        if self.nlist is None:
            nc, nnei = res.nlist.shape[1:]
            self.nlist = np.full((s.nframes, nc, nnei), -1, _index_dtype(s.natoms))
            self.image = np.zeros((s.nframes, nc, nnei, 3), res.image.dtype)
            self.mirror = np.full((s.nframes, nc, nnei), -1, _index_dtype(nc * max(self.sel, default=0)))
        if res.image.dtype.itemsize > self.image.dtype.itemsize:
            self.image = self.image.astype(res.image.dtype)
        self.nlist[todo] = res.nlist
        self.image[todo] = res.image
        self.mirror[todo] = mirror_slots(res.nlist, res.image, s.atype, self.sel, self.centers)
        self.built[todo] = True
        self.dropped += res.dropped.sum(axis=0)
        self.min_dist = min(self.min_dist, float(np.min(res.min_dist, initial=np.inf)))
        if self.dropped.any() and not self._warned:
            self._warned = True
            log.warning("%s: sel %s is too small at rcut %g: %s neighbors per type left out so "
                        "far (largest count seen %s); increase sel or use sel: \"auto\"",
                        s.path, self.sel, self.rcut, self.dropped.tolist(),
                        res.max_nbor.max(axis=0).tolist())


class DataSystemSet:
    """Frames of several DeepmdSystem for training, validation and statistics.

    batch_size: int, list (one per system), "auto" (smallest bs with bs * natoms >= 32),
    "auto:N" (bs * natoms >= N) or "max:N" (largest bs with bs * natoms <= N, at least 1);
    auto_prob: "prob_sys_size", "prob_uniform" or "prob_sys_size;stt:end:weight;..." (blocks of
    systems); sys_probs: explicit probabilities (negative entries share the rest by size).
    ``name`` is the input.json path used in error messages. Deterministic given ``seed``.
    ``center_types``: only atoms of these types are centers (see :meth:`batch`); None: all.
    """

    def __init__(self, systems, batch_size, rcut, sel, seed=None, auto_prob="prob_sys_size",
                 sys_probs=None, name="training.training_data", center_types=None):
        self.systems = list(systems)
        if not self.systems:
            raise InputError([f"{name}.systems: no data system given"])
        self.rcut, self.sel = rcut, list(sel)
        self.batch_sizes = resolve_batch_sizes(batch_size, [s.natoms for s in self.systems], name)
        self.nbatches = [sum(max(1, n // bs) for n in (s.set_nframes or (s.nframes,)))
                         for s, bs in zip(self.systems, self.batch_sizes)]
        self.probs = system_probs(self.nbatches, auto_prob, sys_probs, name)
        seeds = np.random.SeedSequence(seed).spawn(len(self.systems) + 1)
        self._rng = np.random.default_rng(seeds[0])
        self._frame_rngs = [np.random.default_rng(sq) for sq in seeds[1:]]
        self._order = [np.zeros(0, np.int64) for _ in self.systems]
        self._cursor = [0] * len(self.systems)
        self._centers = [None if center_types is None else np.nonzero(np.isin(s.atype, center_types))[0]
                         for s in self.systems]
        self._cache = [NlistCache(s, rcut, sel, c) for s, c in zip(self.systems, self._centers)]

    def __len__(self):
        return len(self.systems)

    def min_nbor_dist(self):
        """The smallest neighbor distance over the frames used so far (inf before any)."""
        return min((c.min_dist for c in self._cache), default=np.inf)

    def label_kinds(self):
        """Labels that at least one system has: keys.LABELS in their order, then a model's own
        tensor labels (sorted)."""
        have = {n for s in self.systems for n in s.labels}
        return tuple(n for n in keys.LABELS if n in have) + tuple(sorted(have - set(keys.LABELS)))

    def next_batch(self):
        """A training batch: the dict of :meth:`batch` for the next frames of a random system."""
        isys = int(self._rng.choice(len(self.systems), p=self.probs))
        return self.batch(isys, self._next_frames(isys))

    def _next_frames(self, isys):
        """The next batch_size frames of system isys; reshuffles when its epoch ends."""
        bs, nf = self.batch_sizes[isys], self.systems[isys].nframes
        frames = []
        while len(frames) < bs:
            if self._cursor[isys] >= self._order[isys].size:
                self._order[isys] = self._frame_rngs[isys].permutation(nf)
                self._cursor[isys] = 0
            take = min(bs - len(frames), nf - self._cursor[isys])
            frames.extend(self._order[isys][self._cursor[isys]:self._cursor[isys] + take])
            self._cursor[isys] += take
        return np.array(frames, dtype=np.int64)

    def batch(self, isys, frames):
        """Frames of one system as a dict: COORD nb x nat x 3, BOX nb x 3 x 3 (periodic only),
        ATYPE nb x nat, NLIST nb x nc x nnei int64, SHIFT nb x nc x nnei x 3 float64, MIRROR
        nb x nc x nnei int64, each label the system has (keys layouts), NATOMS int and SYSTEM
        path. nc = nat, unless the set has ``center_types``: then the lists are those of the nc
        atoms ``keys.CENTERS`` (nb x nc)."""
        s = self.systems[isys]
        frames = np.asarray(frames, dtype=np.int64)
        nlist, image, mirror = self._cache[isys].get(frames)
        box = None if s.box is None else s.box[frames]
        out = {
            keys.COORD: s.coord[frames],
            keys.ATYPE: np.broadcast_to(s.atype, (frames.size, s.natoms)).copy(),
            keys.NLIST: nlist,
            keys.SHIFT: shift_from_image(image, box),
            keys.MIRROR: mirror,
        }
        if box is not None:
            out[keys.BOX] = box
        if self._centers[isys] is not None:
            out[keys.CENTERS] = np.broadcast_to(self._centers[isys], (frames.size, nlist.shape[1])).copy()
        out.update({name: value[frames] for name, value in s.labels.items()})
        out[NATOMS] = s.natoms
        out[SYSTEM] = s.path
        return out

    def batches_for_validation(self, numb_btch):
        """numb_btch batches from each system, frames in stored order (wrapping around); the
        same list at every call."""
        out = []
        for isys, (s, bs) in enumerate(zip(self.systems, self.batch_sizes)):
            for b in range(numb_btch):
                out.append(self.batch(isys, (np.arange(bs) + b * bs) % s.nframes))
        return out

    def stat_batches(self, nbatch):
        """Up to nbatch batches from each system, consecutive frames from the first, no frame
        twice (the last batch of a system may be short): input of the data statistics."""
        out = []
        for isys, (s, bs) in enumerate(zip(self.systems, self.batch_sizes)):
            for start in range(0, min(nbatch * bs, s.nframes), bs):
                out.append(self.batch(isys, np.arange(start, min(start + bs, s.nframes))))
        return out

    def summary(self):
        """One line per system (path, natoms, batch size, batches, probability, periodic)."""
        lines = [f"{'system':<48} {'natoms':>6} {'bch_sz':>6} {'n_bch':>6} {'prob':>9} pbc"]
        for s, bs, nb, p in zip(self.systems, self.batch_sizes, self.nbatches, self.probs):
            name = s.path if len(s.path) <= 48 else "..." + s.path[-45:]
            lines.append(f"{name:<48} {s.natoms:>6} {bs:>6} {nb:>6} {p:>9.3e} "
                         f"{'T' if s.periodic else 'F'}")
        return "\n".join(lines)
