"""TFSession: one training step equals PyTorch's (loss parts and updated weights, float64) for
energy (forces, virial, Hessian, gradient clipping) and tensor losses; checkpoints round-trip
and resume the same trajectory."""

import copy

import numpy as np
import pytest

tf = pytest.importorskip("dptensor_tf.env").tf  # quiet TensorFlow logging first

from dptensor_tf.backend import TensorFlowBackend  # noqa: E402
from dptensor_tf.session import TFSession  # noqa: E402
from tf_helpers import ORTHO_BOX, batch_inputs, max_abs_diff, tiny_model  # noqa: E402

from dptensor.data import keys  # noqa: E402
from dptensor.errors import ModelFileError  # noqa: E402
from dptensor.model import Model  # noqa: E402
from dptensor.model.pytree import flatten  # noqa: E402
from dptensor.train.loss import EnerLoss, TensorLoss  # noqa: E402

TOL = 1e-10
TERMS = ("e", "f", "v", "ae", "h")


def _copy(model):
    return Model.deserialize(copy.deepcopy(model.serialize()))


def ener_case(hessian=True):
    """(model, loss, batch): random labels for every energy term."""
    model = tiny_model("ener")
    batch = batch_inputs(model, 2, 5)
    rng = np.random.default_rng(5)
    nf, nat = batch["atype"].shape
    batch.update({keys.ENERGY: rng.normal(size=nf), keys.FORCE: rng.normal(size=(nf, nat, 3)),
                  keys.VIRIAL: rng.normal(size=(nf, 3, 3)), keys.ATOM_ENER: rng.normal(size=(nf, nat)),
                  "natoms": nat, "system": "sys"})
    if hessian:
        batch[keys.HESSIAN] = rng.normal(size=(nf, 3 * nat, 3 * nat))
    config = {**{f"start_pref_{t}": 1.0 for t in TERMS}, **{f"limit_pref_{t}": 0.25 for t in TERMS}}
    return model, EnerLoss(config, start_lr=1e-3), batch


def tensor_case(kind):
    """(model, loss, batch) for a dipole or polar model, prepared like the training loop does
    (only the selected atoms are centers)."""
    model = tiny_model(kind)
    nf, nat = 2, 6
    batch = batch_inputs(model, nf, nat)
    batch["atype"] = np.repeat(batch["atype"][:1], nf, axis=0)  # a system's frames share types
    rng = np.random.default_rng(6)
    shape = model.output_def.shape
    od = model.output_def
    batch.update({od.label: rng.normal(size=(nf, *shape)), "natoms": nat, "system": "sys",
                  od.atomic_label: rng.normal(size=(nf, nat, *shape))})
    loss = TensorLoss({"pref": 0.7, "pref_atomic": 1.3}, od, model.sel_type)
    return model, loss, loss.prepare(batch)


def _sessions(model, loss, config):
    from dptensor_pt.session import TorchSession

    return TFSession(_copy(model), loss, config), TorchSession(_copy(model), loss, config)


def _weights(session):
    return flatten(session.reference_model().variables)


@pytest.mark.parametrize("case", ["ener-hessian", "ener-clip", "dipole", "polar"])
def test_train_steps_equal_torch(case):
    pytest.importorskip("torch")
    if case.startswith("ener"):
        model, loss, batch = ener_case(hessian=case == "ener-hessian")
    else:
        model, loss, batch = tensor_case(case)
    training = {"seed": 1, **({"gradient_max_norm": 0.05} if case == "ener-clip" else {})}
    tf_s, pt_s = _sessions(model, loss, {"training": training})
    start = flatten(model.variables)
    for step in range(2 if case == "ener-hessian" else 3):
        lr = 1e-3 * 0.8**step
        got, want = tf_s.train_step(dict(batch), lr), pt_s.train_step(dict(batch), lr)
        assert sorted(got) == sorted(want) and got
        for term in want:
            assert abs(got[term] - want[term]) < TOL * max(1.0, abs(want[term])), (step, term)
    a, b = _weights(tf_s), _weights(pt_s)
    assert max(max_abs_diff(a[p], b[p]) for p in a) < TOL
    assert max(max_abs_diff(a[p], start[p]) for p in a) > 1e-4  # the weights did move
    got, want = tf_s.evaluate(dict(batch), 1e-3), pt_s.evaluate(dict(batch), 1e-3)
    assert all(abs(got[t] - want[t]) < TOL * max(1.0, abs(want[t])) for t in want)


def test_statistics_and_unused_nets_stay():
    """Statistics are not trained; the net of a type outside sel_type gets no gradient and no
    update (as in torch, where its parameters have no .grad)."""
    model, loss, batch = tensor_case("dipole")  # sel_type [0]: fitting net 1 is never used
    session = TFSession(_copy(model), loss, {"training": {}})
    session.train_step(batch, 1e-2)
    before, after = flatten(model.variables), _weights(session)
    for path in before:
        moved = max_abs_diff(after[path], before[path]) > 0
        assert moved == ("/layers/" in path and not path.startswith("fitting/nets/1")), path


def test_one_trace_per_batch_layout():
    """A changing learning rate or system name does not retrace the step."""
    model, loss, batch = ener_case(hessian=False)
    session = TFSession(_copy(model), loss, {"training": {}})
    for step in range(3):
        session.train_step({**batch, "system": f"s{step}"}, 1e-3 / (step + 1))
    (fn,) = session._train_fns.values()
    assert fn.experimental_get_tracing_count() == 1


def test_frames_of_one_system_share_a_trace():
    """Batches of one system keep the neighbor-list layout of the system whatever their frames'
    neighbor counts (cutting the lists to each batch's widths would retrace TensorFlow's step
    for many batches: the dipole example ran 3x slower)."""
    from dptensor.data.neighbor import build_nlist, shift_from_image
    from dptensor.data.trim import block_widths

    model, loss, batch = ener_case(hessian=False)
    session = TFSession(_copy(model), loss, {"training": {}})
    box = np.repeat(np.asarray(ORTHO_BOX)[None], 2, axis=0)
    widths = set()
    for scale in (1.0, 0.7):
        coord, b = batch["coord"] * scale, box * scale
        nlist, image = build_nlist(coord, b, batch["atype"], model.rcut, model.sel)
        widths.add(tuple(block_widths(nlist, model.sel)))
        session.train_step({**batch, "coord": coord, "nlist": nlist, "shift": shift_from_image(image, b)},
                           1e-3)
    assert len(widths) == 2, "the two batches must use different widths for this test to mean anything"
    (fn,) = session._train_fns.values()
    assert fn.experimental_get_tracing_count() == 1


def test_type_groups_are_part_of_the_trace():
    """When a batch's frames share their types, each fitting net runs on its own atoms, fixed in
    the trace: the same shapes with the types in another order trace anew, and both equal
    PyTorch's step."""
    pytest.importorskip("torch")
    from dptensor.data.neighbor import build_nlist, shift_from_image

    model, loss, batch = ener_case(hessian=False)
    tf_s, pt_s = _sessions(model, loss, {"training": {"seed": 1}})
    box = np.repeat(np.asarray(ORTHO_BOX)[None], 2, axis=0)
    for types in ([0, 1, 0, 1, 1], [1, 1, 0, 0, 1], [0, 1, 0, 1, 1]):
        atype = np.array([types, types])
        nlist, image = build_nlist(batch["coord"], box, atype, model.rcut, model.sel)
        b = {**batch, "atype": atype, "nlist": nlist, "shift": shift_from_image(image, box)}
        got, want = tf_s.train_step(dict(b), 1e-3), pt_s.train_step(dict(b), 1e-3)
        assert all(abs(got[t] - want[t]) < TOL * max(1.0, abs(want[t])) for t in want) and want
    assert len(tf_s._train_fns) == 2
    assert all(fn.experimental_get_tracing_count() == 1 for fn in tf_s._train_fns.values())


def test_checkpoint_round_trip_resumes_the_trajectory(tmp_path):
    model, loss, batch = tensor_case("polar")
    config = {"training": {"seed": 3}, "model": {"type_map": ["O", "H"]}}
    straight = TFSession(_copy(model), loss, config)
    resumed_from = TFSession(_copy(model), loss, config)
    for s in (straight, resumed_from):
        s.train_step(dict(batch), 1e-3)
    path = tmp_path / "model.ckpt-1.tfckpt"
    resumed_from.save_checkpoint(str(path), 1)
    ckpt = TensorFlowBackend().read_checkpoint(str(path))
    assert ckpt["step"] == 1 and ckpt["config"] == config and ckpt["optimizer"]["step"] == 1
    assert max(max_abs_diff(a, b) for a, b in zip(flatten(ckpt["model"].variables).values(),
                                                   _weights(resumed_from).values())) == 0.0
    resumed = TensorFlowBackend().create_session(ckpt["model"], loss, config, checkpoint=ckpt)
    for s in (straight, resumed):
        s.train_step(dict(batch), 5e-4)
    a, b = _weights(straight), _weights(resumed)
    assert max(max_abs_diff(a[p], b[p]) for p in a) == 0.0
    # the checkpoint is also a plain .dpt model file
    from dptensor.io import load_dpt

    assert Model.deserialize(load_dpt(str(path))).type_map == model.type_map


def test_write_checkpoint_and_errors(tmp_path):
    model = tiny_model("polar")
    backend = TensorFlowBackend()
    path = tmp_path / "init.tfckpt"
    backend.write_checkpoint(model, str(path))
    ckpt = backend.read_checkpoint(str(path))
    assert ckpt["step"] == 0 and ckpt["optimizer"] is None
    assert ckpt["model"].serialize()["fitting"]["fit_diag"] is False
    assert backend.load_model(str(path)).model_type == "polar"
    bad = tmp_path / "bad.tfckpt"
    bad.write_bytes(b"not a zip")
    for target in (bad, tmp_path / "missing.tfckpt"):
        with pytest.raises(ModelFileError, match=str(target.name)):
            backend.read_checkpoint(str(target))
    from dptensor.io import save_dpt

    dpt = tmp_path / "model.tfckpt"
    save_dpt(str(dpt), model.serialize())  # a .dpt file is not a checkpoint
    with pytest.raises(ModelFileError, match="not a dptensor TensorFlow checkpoint"):
        backend.read_checkpoint(str(dpt))


def test_xla_steps_equal_torch(monkeypatch):
    """DPT_TF_XLA=1 compiles the step with XLA; the trajectory stays torch's."""
    monkeypatch.setenv("DPT_TF_XLA", "1")
    pytest.importorskip("torch")
    model, loss, batch = tensor_case("dipole")
    tf_s, pt_s = _sessions(model, loss, {"training": {}})
    assert tf_s.xla
    for lr in (1e-2, 5e-3):
        got, want = tf_s.train_step(dict(batch), lr), pt_s.train_step(dict(batch), lr)
        assert all(abs(got[t] - want[t]) < TOL * max(1.0, abs(want[t])) for t in want)
    a, b = _weights(tf_s), _weights(pt_s)
    assert max(max_abs_diff(a[p], b[p]) for p in a) < TOL
