"""The se_e2_a (DeepPot-SE, "smooth edition, two-body embedding, all coordinates") descriptor.

With the normalized environment matrix R~_i (nnei x 4, see ``env_mat``) and the embedding matrix
G_i (nnei x M1) whose row k is the embedding net of the neighbor's type (and, unless
``type_one_side``, of the center's type) applied to the first column of R~_i:

    T_i = G_i^T R~_i / nnei                        (M1 x 4)
    D_i = T_i  (T_i^<)^T,  T_i^< = first M2 rows   (M1 x M2, flattened; M2 = axis_neuron)

``T_i[:, 1:]`` (M1 x 3) is the rotation matrix that dipole and polar fittings use.
Reference: L. Zhang et al., "End-to-end symmetry preserving inter-atomic potential energy model
for finite and extended systems", NeurIPS 31 (2018).
"""

import numpy as np

from dptensor.data import keys
from dptensor.model.serial import Serializable
from dptensor.model.env_mat import env_mat, env_mat_deriv, env_mat_deriv2, env_mat_stats
from dptensor.model.network import Network
from dptensor.model.packing import pack_rows
from dptensor.model.ops import numpy_ops

STD_FLOOR = 1e-2  # a statistic's std below this is raised to it, so normalization never blows up


class DescrptSeA(Serializable):
    serial_class = "Descriptor"

    def serial_type(self):
        return "se_e2_a"

    @property
    def serial_version(self):
        """2 for a compressed descriptor (its "compress" and tables are new in @version 2), else
        1, which dptensor releases before compression still read."""
        return 1 if self.compress is None else 2

    def __init__(self, ntypes, sel, rcut=6.0, rcut_smth=0.5, neuron=(10, 20, 40), axis_neuron=4,
                 resnet_dt=False, type_one_side=False, exclude_types=(), activation_function="tanh",
                 precision="float64", trainable=True, seed=None, set_davg_zero=False,
                 env_protection=0.0, compress=None, variables=None):
        self.ntypes = int(ntypes)
        self.sel = [int(s) for s in sel]
        self.rcut, self.rcut_smth = float(rcut), float(rcut_smth)
        self.neuron = [int(n) for n in neuron]
        self.axis_neuron = int(axis_neuron)
        self.resnet_dt, self.type_one_side = bool(resnet_dt), bool(type_one_side)
        self.exclude_types = sorted({tuple(sorted(p)) for p in exclude_types})
        self.activation_function, self.precision = activation_function, precision
        self.trainable, self.seed = bool(trainable), seed
        self.set_davg_zero, self.env_protection = bool(set_davg_zero), float(env_protection)
        self.nets = [self._net(k) for k in range(self.n_nets)]
        # dpt compress: {"grids": [grid per net], and how they were made}; tables in variables
        self.compress = None if compress is None else dict(compress)
        if variables is None:
            nnei = self.nnei
            variables = {
                "davg": np.zeros((self.ntypes, nnei, 4)),
                "dstd": np.ones((self.ntypes, nnei, 4)),
                "embeddings": [net.variables for net in self.nets],
            }
        self.variables = variables
        for net, v in zip(self.nets, variables["embeddings"]):
            net.variables = v

    # structure ---------------------------------------------------------------------------
    @property
    def nnei(self):
        return sum(self.sel)

    @property
    def n_nets(self):
        return self.ntypes if self.type_one_side else self.ntypes * self.ntypes

    @property
    def dim_out(self):
        return self.neuron[-1] * self.axis_neuron

    @property
    def dim_emb(self):
        return self.neuron[-1]

    def _net(self, k):
        return Network(1, self.neuron, None, self.activation_function, self.resnet_dt, self.precision,
                       seed=self.seed, stream=(1, k))

    def net_index(self, center_type, neighbor_type):
        return neighbor_type if self.type_one_side else center_type * self.ntypes + neighbor_type

    def embed(self, ops, v, k, x):
        """Embedding net k on x (... x 1) -> ... x M1: the net, or its table when compressed."""
        if self.compress is None:
            return self.nets[k].call(ops, v["embeddings"][k], x)
        shape = ops.shape(x)
        out = ops.tab_eval(v["tables"][k], ops.reshape(x, (-1,)), self.compress["grids"][k], 0)
        return ops.reshape(out, (*shape[:-1], self.dim_emb))

    def embed_derivs(self, ops, v, k, x):
        """Embedding net k on a column x (rows x 1) with its first and second derivatives in x,
        each rows x M1 (``Network.call_derivs``, or the table's when compressed)."""
        if self.compress is None:
            return self.nets[k].call_derivs(ops, v["embeddings"][k], x)
        s = ops.reshape(x, (-1,))
        return [ops.tab_eval(v["tables"][k], s, self.compress["grids"][k], order) for order in range(3)]

    def pair_mask(self):
        """ntypes x ntypes, 0.0 where the (center, neighbor) type pair is excluded."""
        m = np.ones((self.ntypes, self.ntypes))
        for a, b in self.exclude_types:
            m[a, b] = m[b, a] = 0.0
        return m

    # math --------------------------------------------------------------------------------
    def call(self, ops, v, coord, atype, nlist, shift, center=None):
        """coord nf x nall x 3 (float64); for nloc center atoms: atype nf x nloc, nlist
        nf x nloc x nnei, shift nf x nloc x nnei x 3, center coordinates nf x nloc x 3 (default:
        coord) -> D nf x nloc x (M1*M2), rot_mat nf x nloc x M1 x 3 (model precision)."""
        return self.call_env(ops, v, self.env_mat(ops, coord, nlist, shift, center), atype)

    def env_mat(self, ops, coord, nlist, shift, center=None):
        """The environment matrix with this descriptor's cutoffs (see ``env_mat.env_mat``)."""
        return env_mat(ops, coord, nlist, shift, self.rcut, self.rcut_smth, self.env_protection, center)

    def env_mat_deriv(self, ops, rij, mask):
        """R and dR/dr_ij from neighbor vectors (see ``env_mat.env_mat_deriv``)."""
        return env_mat_deriv(ops, rij, mask, self.rcut, self.rcut_smth, self.env_protection)

    def env_mat_deriv2(self, ops, rij, mask):
        """R, dR/dr_ij and d2R/dr_ij^2 (see ``env_mat.env_mat_deriv2``)."""
        return env_mat_deriv2(ops, rij, mask, self.rcut, self.rcut_smth, self.env_protection)

    def call_env(self, ops, v, em, atype, occupied=None, mirror=None, widths=None):
        """``call`` from the environment matrix (``env_mat``, nf x nloc x nnei x 4, float64).

        ``occupied`` (nf x nloc x nnei bool, nlist >= 0) gives the same result with less work:
        the embedding nets then run on the occupied slots only (see ``_embed_occupied``).
        ``mirror`` (with ``occupied``; ``keys.MIRROR``, from ``dptensor.data.mirror``) saves
        more: the second slot of a same-type pair reads its partner's embedding. It is valid
        when the radial statistics are the same in every slot of a type
        (``mirror_embedding_valid``), as ``compute_stats`` makes them. ``widths`` (with
        ``occupied``; ``keys.WIDTHS``, from ``dptensor.data.trim``): em holds only the first
        widths[t] slots of each type block, the rest being empty; their constant contribution
        is added in closed form, so the result is that of the full list. A compressed
        descriptor evaluates its tables on every slot, empty ones included (``tab_contract``)."""
        widths = self.block_widths(widths, occupied)
        # one split, not a slice per block: a slice's gradient fills a zero array of em's size
        parts = ops.split(em, widths, axis=2)
        xyz = None
        for tj, start, pos, w in self.blocks(widths):
            block = self.normalize_block(ops, v, parts[tj], atype, start, w)
            factor = self.pair_factor(ops, atype, tj, ops.dtype_of(block))
            if self.compress is not None:
                part = self.tab_contract(ops, v, block, atype, tj, factor)
                const = self.cut_const(ops, v, tj, start, w)
            else:
                gg, const = self.embed_block(ops, v, block[..., 0], atype, tj, start, occupied, mirror, pos, w)
                if factor is not None:
                    block = block * factor
                # R^T G (4 x M1 per atom): the orientation that runs fastest as a batched product
                part = ops.einsum("flnd,flnm->fldm", block, gg)  # nf x nloc x 4 x M1
            if const is not None:
                part = part + self.const_term(ops, const, atype, tj)
            xyz = part if xyz is None else xyz + part
        return self.from_xyz(ops, xyz)

    # the pieces of call_env, which the backends' Hessians also use ------------------------
    def block_widths(self, widths, occupied):
        """The slots per type block that em holds (``call_env``'s ``widths``; default sel)."""
        widths = list(self.sel) if widths is None else [int(w) for w in widths]
        if occupied is None and widths != list(self.sel):
            raise ValueError("se_e2_a: neighbor lists cut to widths need the occupied-slot mask")
        return widths

    def blocks(self, widths):
        """(neighbor type tj, first slot in the full list, first slot in em, width) of each
        non-empty type block."""
        start = pos = 0
        for tj, (n, w) in enumerate(zip(self.sel, widths)):
            if n:
                yield tj, start, pos, w
            start, pos = start + n, pos + w

    def normalize_block(self, ops, v, em_block, atype, start, w):
        """(R - davg) / dstd of one block (nf x nloc x w x 4, float64) in model precision."""
        davg = ops.take(v["davg"][:, start:start + w], atype, axis=0)  # nf x nloc x w x 4
        dstd = ops.take(v["dstd"][:, start:start + w], atype, axis=0)
        return ops.astype((em_block - davg) / dstd, ops.float_dtype(self.precision))

    def embed_block(self, ops, v, ss, atype, tj, start, occupied, mirror, pos, w):
        """The embedding of one block from its normalized radial column ss (nf x nloc x w)
        -> (gg nf x nloc x w x M1, const ntypes x 4 x M1 or None): see ``_embed_occupied``."""
        if occupied is None:
            return self._embed(ops, v, ss[..., None], atype, tj), None
        return self._embed_occupied(ops, v, ss, occupied[:, :, pos:pos + w], atype, tj, start,
                                    _block_mirror(ops, mirror, pos, w))

    def tab_contract(self, ops, v, block, atype, tj, factor=None):
        """R~^T G of one normalized block (nf x nloc x w x 4) from the tables of a compressed
        descriptor: nf x nloc x 4 x M1 (``ops.tab_contract``). Without ``type_one_side`` each
        center type's table runs on the block with the other types' rows zeroed."""
        ss = block[..., 0]
        if factor is not None:
            block = block * factor
        if self.type_one_side:
            return ops.tab_contract(v["tables"][tj], ss, block, self.compress["grids"][tj])
        out = None
        for ti in range(self.ntypes):
            k = self.net_index(ti, tj)
            sel = ops.astype(atype == ti, ops.dtype_of(block))[:, :, None, None]
            part = ops.tab_contract(v["tables"][k], ss, block * sel, self.compress["grids"][k])
            out = part if out is None else out + part
        return out

    def cut_const(self, ops, v, tj, start, w):
        """``embed_block``'s const computed alone: per center type, sum over the slots [w, n)
        of block tj (all empty) of R~^T G, ntypes x 4 x M1; None when w = n."""
        n = self.sel[tj]
        if w == n:
            return None
        empty4 = (0.0 - v["davg"][:, start + w:start + n, :]) / v["dstd"][:, start + w:start + n, :]
        empty4 = ops.astype(empty4, ops.float_dtype(self.precision))  # ntypes x (n - w) x 4
        if self.type_one_side:
            gg = self.embed(ops, v, tj, empty4[..., :1])  # ntypes x (n-w) x M1
        else:
            gg = ops.concat([self.embed(ops, v, k, empty4[t:t + 1, :, :1])
                             for t, k in enumerate(self.net_index(t, tj) for t in range(self.ntypes))],
                            axis=0)
        return ops.einsum("tkd,tkm->tdm", empty4, gg)

    def pair_factor(self, ops, atype, tj, dtype):
        """nf x nloc x 1 x 1: 0 where (center type, tj) is an excluded pair, else 1; None
        without ``exclude_types``."""
        if not self.exclude_types:
            return None
        pair_mask = ops.asarray(self.pair_mask(), dtype=dtype)
        return ops.take(pair_mask[:, tj], atype, axis=0)[:, :, None, None]

    def const_term(self, ops, const, atype, tj):
        """The per-center sum of the slots cut off a block (``embed_block``'s const), pair mask
        applied: nf x nloc x 4 x M1."""
        if self.exclude_types:
            pair_mask = ops.asarray(self.pair_mask(), dtype=ops.dtype_of(const))
            const = const * pair_mask[:, tj][:, None, None]
        return ops.take(const, atype, axis=0)

    def from_xyz(self, ops, xyz):
        """(D, rot_mat) of ``call_env`` from sum_k R~_k^T G_k (nf x nloc x 4 x M1)."""
        gr = ops.transpose(xyz, (0, 1, 3, 2)) / float(self.nnei)  # nf x nloc x M1 x 4
        grrg = ops.einsum("flid,fljd->flij", gr, gr[:, :, :self.axis_neuron, :])  # nf x nloc x M1 x M2
        nf, nloc = ops.shape(xyz)[:2]
        return ops.reshape(grrg, (nf, nloc, self.dim_out)), gr[..., 1:]

    def _embed(self, ops, v, ss, atype, tj):
        """Embedding of one neighbor-type block: ss nf x nloc x n x 1 -> nf x nloc x n x M1."""
        if self.type_one_side:
            return self.embed(ops, v, tj, ss)
        out = None
        for ti in range(self.ntypes):
            k = self.net_index(ti, tj)
            sel = ops.astype(atype == ti, ops.dtype_of(ss))[:, :, None, None]
            part = self.embed(ops, v, k, ss) * sel
            out = part if out is None else out + part
        return out

    def _embed_occupied(self, ops, v, ss, occupied, atype, tj, start, mirror=None):
        """``_embed`` without running the nets on empty slots: ss (normalized radial column) and
        occupied nf x nloc x w, the first w of the block's n = sel[tj] slots -> (gg nf x nloc x w
        x M1, const ntypes x 4 x M1 or None).

        An empty slot's normalized row is (0 - davg) / dstd, a constant of the center's type and
        the slot: each net runs on its occupied slots followed by these ntypes x n constant rows,
        and every slot then reads its row (a gather, whose gradient sums shared rows back). In a
        water frame with sel [46, 92] a third of the slots are empty. (The constant rows also keep
        every net's input at two rows or more, which symbolic tracing for ``dpt freeze`` needs.)
        The slots [w, n) left out of ss are all empty: ``const`` is their sum of R~^T G per
        center type (None when w = n). ``mirror`` (nf x nloc x w, flat index nf*nloc*w of the
        partner slot, or -1; see ``_block_mirror``): such a slot runs no net either and reads its
        partner's row."""
        nf, nloc, w = ops.shape(ss)
        n = self.sel[tj]
        flat = ops.reshape(ss, (-1, 1))
        live = occupied if mirror is None else occupied & (mirror < 0)  # slots that run a net
        occ = ops.reshape(live, (-1,))
        ctype = ops.astype(atype, ops.index_dtype)[:, :, None]  # nf x nloc x 1
        # ntypes x n x 4, as call_env normalizes an empty slot
        empty4 = ops.astype((0.0 - v["davg"][:, start:start + n, :]) / v["dstd"][:, start:start + n, :],
                            ops.dtype_of(ss))
        empty = ops.reshape(empty4[..., :1], (-1, 1))
        centers = [None] if self.type_one_side else list(range(self.ntypes))
        members = [occ if ti is None else ops.reshape(live & (ctype == ti), (-1,)) for ti in centers]
        positions, index, starts, _ = pack_rows(ops, members, [ops.shape(empty)[0]] * len(members))
        outputs = []
        for ti, pos in zip(centers, positions):
            k = self.net_index(0 if ti is None else ti, tj)
            rows = ops.concat([ops.take(flat, pos), empty], axis=0)
            outputs.append(self.embed(ops, v, k, rows))
        outputs = ops.concat(outputs, axis=0)
        # the empty rows of a center type sit after the occupied rows of the net that type uses
        if self.type_one_side:
            first = base = starts[0]
        else:
            first = ops.concat([ops.reshape(b, (1,)) for b in starts], axis=0)  # per center type
            base = ops.take(first, ctype)
        empty_row = base + ctype * n + ops.arange(w)[None, None, :]  # nf x nloc x w
        index = ops.where(occ, index, ops.reshape(empty_row, (-1,)))
        if mirror is not None:
            mirror = ops.reshape(mirror, (-1,))
            shared = mirror >= 0
            index = ops.where(shared, ops.take(index, ops.where(shared, mirror, 0 * mirror)), index)
        gg = ops.take(outputs, index, axis=0)
        gg = ops.reshape(gg, (nf, nloc, w, ops.shape(gg)[-1]))
        if w == n:
            return gg, None
        types = ops.arange(self.ntypes)[:, None]  # ntypes x 1
        base = first if self.type_one_side else ops.take(first, types)
        cut_rows = base + types * n + w + ops.arange(n - w)[None, :]  # ntypes x (n - w)
        g_cut = ops.reshape(ops.take(outputs, ops.reshape(cut_rows, (-1,)), axis=0),
                            (self.ntypes, n - w, ops.shape(gg)[-1]))
        return gg, ops.einsum("tkd,tkm->tdm", empty4[:, w:, :], g_cut)  # ntypes x 4 x M1

    def __call__(self, coord, atype, nlist, shift):
        return self.call(numpy_ops, self.variables, coord, atype, nlist, shift)

    @staticmethod
    def mirror_embedding_valid(davg, dstd):
        """Whether the two slots of a same-type pair normalize their radial value alike (see
        ``call_env``): davg and dstd (ntypes x nnei x 4, numpy) equal in every slot of a type."""
        return all(np.all(x[:, :, 0] == x[:, :1, 0]) for x in (np.asarray(davg), np.asarray(dstd)))

    # statistics --------------------------------------------------------------------------
    def compute_stats(self, batches):
        """Set davg/dstd from batches (dicts with coord, atype, nlist, shift numpy arrays, and
        ``centers`` when the lists are those of some atoms only): per center type, mean and std
        of the radial column, std of the angular columns (mean 0)."""
        tot = {k: np.zeros(self.ntypes) for k in ("n", "s", "s2", "a2")}
        for b in batches:
            centers = b.get(keys.CENTERS)
            atype = b["atype"] if centers is None else np.take_along_axis(b["atype"], centers, axis=1)
            part = env_mat_stats(b["coord"], b["nlist"], b["shift"], atype, self.ntypes,
                                 self.rcut, self.rcut_smth, self.env_protection, centers)
            for k in tot:
                tot[k] += part[k]
        n = np.maximum(tot["n"], 1.0)
        avg = tot["s"] / n
        std_r = np.sqrt(np.maximum(tot["s2"] / n - avg**2, 0.0))
        std_a = np.sqrt(tot["a2"] / (3.0 * n))
        std_r = np.where(tot["n"] > 0, np.maximum(std_r, STD_FLOOR), 1.0)
        std_a = np.where(tot["n"] > 0, np.maximum(std_a, STD_FLOOR), 1.0)
        davg = np.zeros((self.ntypes, self.nnei, 4))
        if not self.set_davg_zero:
            davg[:, :, 0] = avg[:, None]
        dstd = np.empty((self.ntypes, self.nnei, 4))
        dstd[:, :, 0] = std_r[:, None]
        dstd[:, :, 1:] = std_a[:, None, None]
        self.variables["davg"], self.variables["dstd"] = davg, dstd

    # serialization -----------------------------------------------------------------------
    def config(self):
        return {
            "ntypes": self.ntypes, "sel": list(self.sel), "rcut": self.rcut, "rcut_smth": self.rcut_smth,
            "neuron": list(self.neuron), "axis_neuron": self.axis_neuron, "resnet_dt": self.resnet_dt,
            "type_one_side": self.type_one_side, "exclude_types": [list(p) for p in self.exclude_types],
            "activation_function": self.activation_function, "precision": self.precision,
            "trainable": self.trainable, "seed": self.seed, "set_davg_zero": self.set_davg_zero,
            "env_protection": self.env_protection,
            **({} if self.compress is None else {"compress": self.compress}),
        }


def _block_mirror(ops, mirror, start, n):
    """The slots [start, start + n) of ``mirror`` (``keys.MIRROR``: partner position inside the
    block of its frame), nf x nloc x n, as flat indices into the block of all frames (nf*nloc*n);
    None stays None."""
    if mirror is None:
        return None
    nf, nloc = ops.shape(mirror)[:2]
    block = mirror[:, :, start:start + n]
    offset = ops.reshape(ops.arange(nf) * (nloc * n), (nf, 1, 1))
    return ops.where(block >= 0, block + offset, block)
