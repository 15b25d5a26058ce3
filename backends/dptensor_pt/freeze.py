"""``dpt freeze`` for PyTorch: a TorchScript file (``.pth``) that ``torch.jit.load`` runs alone.

Why tracing and graph rewriting. The math is written once against an ``ops`` namespace (plain
Python: dicts, loops over types, numpy constants), which ``torch.jit.script`` cannot compile, and
``torch.jit.trace`` would bake the atom count of its example into every reshape. Instead:

1. ``make_fx(tracing_mode="symbolic")`` runs the reference math on fake tensors whose sizes are
   symbols (nf, nat, ...) and records every aten op, including the backward ops that
   ``torch.autograd.grad`` executes: forces and virial become plain forward ops of the graph.
2. The trace holds ``aten.detach`` where autograd saved a tensor for its backward pass and where
   the reference detaches ``coord``. They do not change any value, but they would cut the
   dependence of the force on ``coord``; removing them makes the graph differentiable, so the
   Hessian is the derivative of the traced force (below).
3. TorchScript does not accept two things make_fx emits: ``aten.sym_size.int`` (how the graph
   reads a symbolic size) is replaced by ``_size`` below, and each op overload
   (``aten.add.Tensor``) by its overload packet (``aten.add``), which TorchScript resolves by
   argument types. Then ``torch.jit.script`` compiles the generated code.
4. ``aten.view`` becomes ``aten.reshape``: make_fx chose ``view`` from the strides of fake
   tensors, and some kernels (e.g. ``softplus_backward``) lay out their real outputs
   differently, so the view fails for other sizes. ``reshape`` is a view whenever one is
   possible; the graph has no in-place ops, so aliasing never matters.

Hessian. An energy model's file holds a second traced graph: the reference's written-out
Hessian (``TorchModel.hessian``, ``dptensor.model.hessian``) traced the same way, with the
type-masked fitting (no per-type atom positions, which change from system to system). It is plain
operations, so it runs under ``no_grad`` too. ``dpt freeze --no-hessian`` leaves it out (half the
freezing time), as the TensorFlow backend does.

The file also holds the serialized reference model (extra file ``model.json``: JSON with each
array as base64 ``.npy`` bytes) so that dptensor recovers the exact weights (``load_frozen``).
"""

import base64
import io
import json
import os
import warnings

import numpy as np
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from dptensor import __version__
from dptensor.data import keys
from dptensor.errors import ModelFileError
from dptensor.io.versions import upgrade
from dptensor.model import Model
from dptensor.utils.atomic import atomic_write_bytes
from dptensor_pt.model import TorchModel

EXTRA_FILE = "model.json"  # the serialized reference model inside the .pth archive
FILE_FORMAT = "dptensor-frozen-pt"
FILE_VERSION = 1
# freeze-time check of the scripted graph against the eager model, relative, by model precision: the
# traced graph may run other kernels (e.g. a product and an add for a fused addmm), which differ in
# rounding; a size fixed by tracing gives errors of order one
CHECK_TOLERANCE = {"float64": 1e-8, "float32": 1e-4}
_ARRAY_KEY = "@npy"  # a JSON node {"@npy": base64 of the .npy bytes} is a numpy array


# tracing -----------------------------------------------------------------------------------
def _predict_fn(tm):
    """coord, atype, nlist, shift -> {keys.P_*: tensor}, with force and virial if the output
    is r-differentiable (computed by autograd while tracing)."""

    def predict(coord, atype, nlist, shift):
        with torch.enable_grad():
            return tm(coord, atype, nlist, shift, derivatives=True)

    return predict


def _hessian_fn(tm):
    """coord, atype, nlist, shift -> d2E/dx2 (nf x 3nat x 3nat): the written-out Hessian."""

    def hessian(coord, atype, nlist, shift):
        return tm.hessian(coord, atype, nlist, shift)

    return hessian


class _NoHessian(torch.nn.Module):
    """The Hessian graph slot of a dipole or polar model, or of an energy model frozen without
    its Hessian (never called: ``hessian`` refuses)."""

    def forward(self, coord: torch.Tensor, atype: torch.Tensor, nlist: torch.Tensor,
                shift: torch.Tensor) -> torch.Tensor:
        return torch.zeros(0, dtype=torch.float64)


def _distinct_sizes(taken, count):
    """``count`` sizes >= 2 that differ from each other and from ``taken``: make_fx treats sizes
    0 and 1 as constants and may merge equal example sizes into one symbol."""
    out, n = [], 2
    while len(out) < count:
        if n not in taken:
            out.append(n)
        n += 1
    return out


def _example_inputs(model):
    """Traced as fake tensors: only the shapes and dtypes matter, not the values. A tensor model
    is traced with fewer centers (nloc) than atoms (nat), so its graph takes any nloc <= nat;
    an energy model's centers are all its atoms (forces act on every atom)."""
    nnei = sum(model.sel)
    nf, nloc, nat = _distinct_sizes({3, 4, nnei}, 3)
    if model.output_def.r_differentiable:
        nloc = nat
    return [torch.zeros(nf, nat, 3, dtype=torch.float64), torch.zeros(nf, nloc, dtype=torch.int64),
            torch.full((nf, nloc, nnei), -1, dtype=torch.int64),
            torch.zeros(nf, nloc, nnei, 3, dtype=torch.float64)]


def _size(x: torch.Tensor, d: int) -> int:
    """TorchScript stand-in for ``aten.sym_size.int``."""
    return x.size(d)


def _strip_detach(gm):
    """Remove the ``aten.detach`` nodes (point 2 of the module docstring); returns their count."""
    count = 0
    for node in list(gm.graph.nodes):
        if node.op == "call_function" and node.target is torch.ops.aten.detach.default:
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
            count += 1
    return count


def _make_scriptable(gm):
    """Rewrite a make_fx graph in place (points 3 and 4 of the module docstring)."""
    views = (torch.ops.aten.view.default, torch.ops.aten._unsafe_view.default)
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        if isinstance(node.target, torch._ops.OpOverload) and node.target._schema.is_mutable:
            raise RuntimeError(f"traced graph has the in-place op {node.target}: view -> reshape "
                               "would be unsafe")
        if node.target is torch.ops.aten.sym_size.int:
            node.target = _size
        elif node.target in views:
            node.target = torch.ops.aten.reshape
        elif isinstance(node.target, torch._ops.OpOverload):
            node.target = node.target.overloadpacket
    gm.recompile()
    return gm


def trace_to_script(fn, example_inputs):
    """make_fx (symbolic sizes), detach removal, rewriting, torch.jit.script: a ScriptModule."""
    # The fake-tensor cache costs more than it saves on these graphs (halves the tracing time
    # when off); without duck shaping equal example sizes never share a symbol; opt_einsum
    # chooses a contraction path from concrete sizes, which would fix nf*nat to the example's.
    with torch._dynamo.config.patch(fake_tensor_cache_enabled=False), \
            torch.fx.experimental._config.patch(use_duck_shape=False), \
            torch.backends.opt_einsum.flags(enabled=False):
        gm = make_fx(fn, tracing_mode="symbolic", _allow_non_fake_inputs=True)(*example_inputs)
    _strip_detach(gm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # TorchScript's notes on fx-generated code
        return torch.jit.script(_make_scriptable(gm))


# the scripted module ---------------------------------------------------------------------------
class FrozenModel(torch.nn.Module):
    """What the .pth holds: the traced prediction graph and the metadata.

    forward(coord nf x nat x 3 float64, atype nf x nloc int64, nlist nf x nloc x nnei int64 (-1
    empty), shift nf x nloc x nnei x 3 float64, do_atomic, do_hessian) -> {keys.P_*: float64}.
    The centers are the first nloc atoms: nloc = nat for energy models; a dipole or polar model
    also takes nloc < nat, its atoms of ``sel_type`` placed first (the others contribute zero).
    ``has_hessian``: the model was trained on (or frozen for) Hessians; ``do_hessian`` works for
    every energy model frozen with its Hessian graph (``hessian_available``)."""

    type_map: list[str]
    model_type: str
    rcut: float
    sel: list[int]
    sel_type: list[int]
    has_hessian: bool
    hessian_available: bool
    r_differentiable: bool
    atomic_name: str

    def __init__(self, predict, hessian, model: Model, has_hessian: bool, hessian_available: bool):
        super().__init__()
        self.predict, self.hessian_graph = predict, hessian
        self.type_map, self.model_type = list(model.type_map), str(model.model_type)
        self.rcut, self.sel, self.sel_type = float(model.rcut), list(model.sel), list(model.sel_type)
        self.has_hessian, self.hessian_available = bool(has_hessian), bool(hessian_available)
        self.r_differentiable = bool(model.output_def.r_differentiable)
        self.atomic_name = model.output_def.atomic_name

    def forward(self, coord: torch.Tensor, atype: torch.Tensor, nlist: torch.Tensor,
                shift: torch.Tensor, do_atomic: bool = True,
                do_hessian: bool = False) -> dict[str, torch.Tensor]:
        out = self.predict(coord, atype, nlist, shift)
        if not do_atomic:
            out.pop(self.atomic_name)
        if do_hessian:
            out[keys.P_HESSIAN] = self.hessian(coord, atype, nlist, shift)
        return out

    @torch.jit.export
    def hessian(self, coord: torch.Tensor, atype: torch.Tensor, nlist: torch.Tensor,
                shift: torch.Tensor) -> torch.Tensor:
        """d2E/dx2, nf x 3nat x 3nat (atom-major: x0 y0 z0 x1 ...)."""
        if not self.r_differentiable:
            raise RuntimeError("a " + self.model_type + " model has no Hessian")
        if not self.hessian_available:
            raise RuntimeError("this model was frozen without its Hessian (dpt freeze --no-hessian)")
        nf, nat = coord.size(0), coord.size(1)
        if nf * nat == 0:
            return torch.zeros(nf, 3 * nat, 3 * nat, dtype=torch.float64)
        return self.hessian_graph(coord, atype, nlist, shift)


def _check_inputs(model, nf, nat):
    """Valid inputs of sizes other than the example's: atoms near a line, closer than rcut to
    each other; the neighbors of atom i are the next atoms (never i itself)."""
    gen = torch.Generator().manual_seed(0)
    nnei = sum(model.sel)
    spacing = 0.8 * model.rcut / max(nat, 1)
    coord = torch.arange(nat, dtype=torch.float64)[:, None] * spacing * torch.ones(3) / 3 ** 0.5
    coord = coord + 0.05 * spacing * torch.rand(nf, nat, 3, generator=gen, dtype=torch.float64)
    atype = torch.randint(0, model.ntypes, (nf, nat), generator=gen)
    k = torch.arange(nnei)
    nlist = (torch.arange(nat)[:, None] + 1 + k) % nat
    nlist = torch.where(k < nat - 1, nlist, -1).expand(nf, nat, nnei).contiguous()
    return [coord, atype, nlist, torch.zeros(nf, nat, nnei, 3, dtype=torch.float64)]


def check_frozen(script, model, nf=3, nat=7):
    """Compare the scripted predictions and (when the file has it) Hessian with the eager
    TorchModel on inputs of other sizes; raises RuntimeError if tracing fixed a size (a freezing
    bug, not a user error). A tensor model is checked with 5 of the nat atoms as centers."""
    args = _check_inputs(model, nf, nat)
    if not model.output_def.r_differentiable:
        _check_sizes(script, model, [args[0]] + [a[:, :5] for a in args[1:]], nf, nat)
    _check_sizes(script, model, args, nf, nat)
    if script.hessian_available:
        try:
            got = script.hessian(*args)
        except (RuntimeError, torch.jit.Error) as exc:
            raise RuntimeError(f"frozen Hessian fails for nf={nf}, nat={nat}: tracing fixed a size "
                               f"({str(exc).strip().splitlines()[-1]})") from exc
        _compare(model, "hessian", got, TorchModel(model).hessian(*args).detach(), nf, nat)


def _check_sizes(script, model, args, nf, nat):
    try:
        got = script(*args, True, False)
    except (RuntimeError, torch.jit.Error) as exc:
        raise RuntimeError(f"frozen model fails for nf={nf}, nat={nat}: tracing fixed a size "
                           f"({str(exc).strip().splitlines()[-1]})") from exc
    want = _predict_fn(TorchModel(model))(*args)
    for key, value in want.items():
        _compare(model, key, got.get(key), value.detach(), nf, nat)


def _compare(model, key, got, want, nf, nat):
    err = float((got - want).abs().max()) if got is not None else float("inf")
    if not err <= CHECK_TOLERANCE.get(model.precision, 1e-8) * (1.0 + float(want.abs().max())):
        raise RuntimeError(f"frozen model differs from the reference on {key} for nf={nf}, "
                           f"nat={nat} (max |diff| {err:.3g})")


# public API --------------------------------------------------------------------------------
def build_frozen(model: Model, hessian=None) -> torch.jit.ScriptModule:
    """The scripted FrozenModel of ``model``, checked (see ``freeze_model`` for ``hessian``)."""
    with_graph, has_hessian = model.hessian_choice(hessian)
    tm = TorchModel(model).requires_grad_(False)  # weights are constants of the graph
    example = _example_inputs(model)
    predict = trace_to_script(_predict_fn(tm), example)
    graph = trace_to_script(_hessian_fn(tm), example) if with_graph else torch.jit.script(_NoHessian())
    script = torch.jit.script(FrozenModel(predict, graph, model, has_hessian, with_graph))
    check_frozen(script, model)
    return script


def freeze_model(model: Model, output_path: str, hessian=None) -> None:
    """Write ``model`` as a TorchScript file at ``output_path`` (atomically).

    hessian (``Model.hessian_choice``): None (default) keeps the Hessian graph of an energy model
    (``do_hessian`` works) and sets ``has_hessian`` if it was trained on Hessians; True sets the
    flag (error for dipole/polar models); False leaves the graph out and clears the flag."""
    script = build_frozen(model, hessian)
    document = {"format": FILE_FORMAT, "version": FILE_VERSION, "dptensor_version": __version__,
                "model": _encode(model.serialize())}
    buffer = io.BytesIO()  # saved to a file, the archive's folder would be the temporary's name
    torch.jit.save(script, buffer, _extra_files={EXTRA_FILE: json.dumps(document)})
    atomic_write_bytes(output_path, buffer.getvalue())


def load_frozen(path):
    """(the scripted module, the reference Model with the exact weights) of a frozen .pth."""
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such model file")
    extra = {EXTRA_FILE: ""}
    script = _jit_load(path, extra)
    try:
        document = json.loads(extra[EXTRA_FILE])
    except ValueError:
        raise ModelFileError(f"{path}: not a dptensor frozen model (no readable {EXTRA_FILE})") from None
    if not isinstance(document, dict) or document.get("format") != FILE_FORMAT:
        raise ModelFileError(f"{path}: not a dptensor frozen model ({EXTRA_FILE} has no "
                             f"\"format\": \"{FILE_FORMAT}\")")
    writer = document.get("dptensor_version")
    if document.get("version") != FILE_VERSION:
        raise ModelFileError(f"{path}: frozen-model version {document.get('version')} (written by "
                             f"dptensor {writer}); this dptensor {__version__} reads {FILE_VERSION}")
    try:
        model_dict = upgrade(_decode(document["model"]), writer)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    return script, Model.deserialize(model_dict)


def _jit_load(path, extra):
    """torch.jit.load. A compressed model's graph calls dptensor's ops (``dptensor::tab_contract``,
    ``dptensor::tab_eval``): on an unknown dptensor op the native library is loaded (built at first
    use) and the load tried again, so other models never wait for a build."""
    try:
        try:
            return torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        except RuntimeError as exc:
            if "dptensor::" not in str(exc):
                raise
            _load_native_kernel(path)
            return torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except (RuntimeError, ValueError) as exc:  # torch's errors for a file that is not TorchScript
        lines = str(exc).strip().splitlines()
        raise ModelFileError(f"{path}: not a TorchScript model ({lines[0] if lines else exc})") from None


def _load_native_kernel(path):
    """Load dptensor's PyTorch kernels for a compressed model, or ModelFileError saying why not."""
    from dptensor_pt import native

    if native.load():
        return
    if not native.enabled():
        how = f"{native.NATIVE_ENV} is set to 0: unset it"
    elif not native.sources_present():
        how = f"they are built from {native.SOURCE.relative_to(native.SOURCE.parents[1])} of a clone " \
              "of the dptensor repository, which this install lacks"
    else:
        how = "building them failed (see the warning above): install g++ or set $CXX"
    raise ModelFileError(f"{path}: a compressed model (dpt compress); running it needs dptensor's "
                         f"PyTorch kernels (dptensor::tab_contract and kin), which are not available "
                         f"({how})")


# the serialized model as JSON ------------------------------------------------------------------
def _encode(node, in_variables=False):
    """JSON-able copy of a serialized model: arrays -> {"@npy": base64 .npy}, tuples -> lists;
    a numpy scalar is data under ``@variables`` (kept as a 0-d array with its dtype), else a
    hyper-parameter (a JSON number)."""
    if isinstance(node, np.generic):
        node = np.asarray(node) if in_variables else node.item()
    if isinstance(node, np.ndarray):
        buffer = io.BytesIO()
        np.save(buffer, node, allow_pickle=False)
        return {_ARRAY_KEY: base64.b64encode(buffer.getvalue()).decode("ascii")}
    if isinstance(node, dict):
        return {k: _encode(v, in_variables or k == "@variables") for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_encode(v, in_variables) for v in node]
    return node


def _decode(node):
    if isinstance(node, dict):
        if _ARRAY_KEY in node:
            raw = io.BytesIO(base64.b64decode(node[_ARRAY_KEY]))
            return np.lib.format.read_array(raw, allow_pickle=False)
        return {k: _decode(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_decode(v) for v in node]
    return node
