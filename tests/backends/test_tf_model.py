"""TFModel: the reference math on TensorFlow equals the numpy reference, and its tape derivatives
(force, virial, Hessian) equal PyTorch's autograd ones, to 1e-10 in float64."""

import numpy as np
import pytest

tf = pytest.importorskip("dptensor_tf.env").tf  # quiet TensorFlow logging first

from dptensor_tf.model import TFModel  # noqa: E402
from model_fixtures import ORTHO_BOX  # noqa: E402
from tf_helpers import MODELS, batch_inputs, max_abs_diff, tiny_model  # noqa: E402

from dptensor.data import keys  # noqa: E402
from dptensor.model.ops import numpy_ops  # noqa: E402
from dptensor.model.pytree import flatten  # noqa: E402

TOL = 1e-10
CASES = [(2, 6, ORTHO_BOX), (1, 9, None)]  # (nf, nat, box): periodic cell and a cluster


def _numpy(out):
    return {k: v.numpy() for k, v in out.items()}


@pytest.mark.parametrize("case", CASES, ids=["periodic", "cluster"])
@pytest.mark.parametrize("name", list(MODELS))
def test_outputs_equal_reference(name, case):
    model = tiny_model(name)
    inputs = batch_inputs(model, *case)
    want = model(**inputs)
    tm = TFModel(model)
    for derivatives in (False, True):
        got = _numpy(tm(**inputs, derivatives=derivatives))
        for k, ref in want.items():
            assert got[k].shape == ref.shape and got[k].dtype == np.float64
            assert max_abs_diff(got[k], ref) < TOL, (name, k, derivatives)
    assert abs(want[model.output_def.name]).max() > 1e-3  # a non-trivial output


@pytest.mark.parametrize("name", list(MODELS))
def test_derivatives_equal_torch(name):
    """force, virial and Hessian (energy models) of TF and PyTorch agree; the tensor models'
    outputs too (they have no derivatives)."""
    torch = pytest.importorskip("torch")
    from dptensor_pt.model import TorchModel

    model = tiny_model(name)
    inputs = batch_inputs(model, 2, 6)
    energy = model.output_def.r_differentiable
    got = _numpy(TFModel(model)(**inputs, hessian=energy))
    pt = TorchModel(model)(*[torch.from_numpy(np.ascontiguousarray(inputs[k]))
                             for k in ("coord", "atype", "nlist", "shift")], hessian=energy)
    want = {k: v.detach().numpy() for k, v in pt.items()}
    assert sorted(got) == sorted(want)
    for k in want:
        assert max_abs_diff(got[k], want[k]) < TOL * max(1.0, np.abs(want[k]).max()), k
    if energy:
        assert got[keys.P_HESSIAN].shape == (2, 18, 18)
        assert np.abs(got[keys.P_VIRIAL]).max() > 1e-4


def test_hessian_is_second_derivative():
    """H equals central differences of the force, -dF/dx, is symmetric and has frames apart."""
    model = tiny_model("ener")
    inputs = batch_inputs(model, 2, 5)
    tm = TFModel(model)
    hess = tm(**inputs, hessian=True)[keys.P_HESSIAN].numpy()
    h, coord = 1e-5, inputs["coord"]
    columns = []
    for j in range(coord.shape[1] * 3):
        step = np.zeros_like(coord).reshape(2, -1)
        step[:, j] = h
        step = step.reshape(coord.shape)
        f_plus = tm(**{**inputs, "coord": coord + step})[keys.P_FORCE].numpy().reshape(2, -1)
        f_minus = tm(**{**inputs, "coord": coord - step})[keys.P_FORCE].numpy().reshape(2, -1)
        columns.append(-(f_plus - f_minus) / (2 * h))
    numeric = np.stack(columns, axis=-1)
    assert max_abs_diff(hess, numeric) < 1e-6 * max(1.0, np.abs(hess).max())
    assert max_abs_diff(hess, hess.transpose(0, 2, 1)) < TOL
    assert max_abs_diff(hess[0], hess[1]) > 1e-3


def test_hessian_dynamic_shapes_agree():
    """The graph path for unknown sizes (the one a SavedModel runs) gives the eager Hessian,
    which is the numpy reference's."""
    model = tiny_model("ener")
    inputs = batch_inputs(model, 2, 5)
    args = [tf.convert_to_tensor(inputs[k]) for k in ("coord", "atype", "nlist", "shift")]
    tm = TFModel(model)
    whole = tm.hessian(*args).numpy()
    spec = [tf.TensorSpec([None] * a.shape.rank, a.dtype) for a in args]
    dynamic = tf.function(tm.hessian, input_signature=spec, autograph=False)(*args).numpy()
    reference = model.hessian(numpy_ops, model.variables, *(inputs[k] for k in ("coord", "atype", "nlist", "shift")))
    assert max_abs_diff(dynamic, whole) < TOL and max_abs_diff(reference, whole) < TOL


def test_variables_round_trip():
    """Trainable variables are the network weights only (not the descriptor's when it is
    frozen); to_reference / load_reference_variables carry the weights both ways."""
    model = tiny_model("ener")
    tm = TFModel(model)
    assert tm.trainable_paths and all("/layers/" in p for p in tm.trainable_paths)
    assert {v.name.split(":")[0] for v in tm.trainable_variables} == {p.replace("/", "__")
                                                                      for p in tm.trainable_paths}
    frozen = tiny_model("ener")
    frozen.descriptor.trainable = False
    assert not any(p.startswith("descriptor") for p in TFModel(frozen).trainable_paths)
    path = tm.trainable_paths[0]
    tm.variable(path).assign_add(tf.ones_like(tm.variable(path)))
    ref = tm.to_reference()
    assert max_abs_diff(flatten(ref.variables)[path], flatten(model.variables)[path] + 1) < TOL
    other = TFModel(model)
    other.load_reference_variables(ref)
    assert max_abs_diff(other.variable(path).numpy(), flatten(ref.variables)[path]) == 0.0


def test_narrow_int_inputs_and_centers():
    """Batches hold nlist as int32 (and atype as any int): accepted; ``centers`` evaluates only
    the selected atoms of a tensor model, as the reference does."""
    model = tiny_model("dipole")
    inputs = batch_inputs(model, 2, 6)
    want = model(**inputs)
    centers = np.stack([np.nonzero(a == 0)[0] for a in inputs["atype"]])  # 2 x 3, per frame
    sub = {k: np.stack([x[c] for x, c in zip(inputs[k], centers)]) for k in ("atype", "nlist", "shift")}
    got = TFModel(model)(inputs["coord"], sub["atype"].astype(np.int32), sub["nlist"].astype(np.int32),
                         sub["shift"], centers=centers)
    assert max_abs_diff(got[keys.P_DIPOLE].numpy(), want[keys.P_DIPOLE]) < TOL
    want_atomic = np.stack([x[c] for x, c in zip(want[keys.P_ATOMIC_DIPOLE], centers)])
    assert max_abs_diff(got[keys.P_ATOMIC_DIPOLE].numpy(), want_atomic) < TOL
