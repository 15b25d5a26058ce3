"""One training run on TensorFlow: the optimizer step and evaluation behind ``TrainingLoop``.

The step (forward, loss, gradient, clipping, Adam) runs as one ``tf.function``. Batches of one
system keep their shapes, so each distinct batch layout is traced once and then reused; the
learning rate enters as a tensor so that its decay never retraces. With ``DPT_TF_XLA=1`` the
step is compiled by XLA (see ``dptensor_tf.env``). The loss module is the shared
one (``dptensor.train.loss``): with ``lr`` a tensor its prefactors are tensors too.
"""

import numpy as np

from dptensor.data import keys
from dptensor.model import Model
from dptensor_tf.adam import Adam, clip_by_total_norm
from dptensor_tf.env import tf, use_xla
from dptensor_tf.model import TFModel
from dptensor_tf.ops import tf_ops, training_ops
from dptensor_tf.serialization import write_checkpoint

INPUTS = (keys.COORD, keys.ATYPE, keys.NLIST, keys.SHIFT, keys.CENTERS, keys.MIRROR)
NOT_TRACED = ("system",)  # batch metadata the step does not read (a new value must not retrace)
GROUPS = "type_groups"  # meta entry: Model.type_groups of the batch, as tuples


def _dtype(array):
    return np.float64 if array.dtype.kind == "f" else None


class TFSession:
    def __init__(self, model: Model, loss, config, optimizer_state=None):
        self.full_config = config
        training_config = config["training"]
        seed = training_config.get("seed")
        if seed is not None:
            tf.random.set_seed(int(seed))
        self.xla = use_xla()
        # the native kernel has no XLA (or GPU) version: XLA steps run TensorFlow's own ops
        self.module = TFModel(model, ops=tf_ops if self.xla else training_ops())
        self.loss = loss
        self.params = self.module.trainable_list
        self.optimizer = Adam(self.params, self.module.trainable_paths)
        if optimizer_state is not None:
            self.optimizer.load_state(optimizer_state)
        self.grad_max_norm = training_config.get("gradient_max_norm")
        # same-type pairs share one embedding evaluation when the statistics allow it
        self.inputs = set(INPUTS) if model.mirror_valid() else set(INPUTS) - {keys.MIRROR}
        self._train_fns, self._eval_fns = {}, {}

    # batches ---------------------------------------------------------------------------------
    def split(self, batch):
        """(tensors the step reads, Python metadata such as natoms / nsel)."""
        wanted = self.inputs | set(self.loss.label_keys())
        # labels are float64 as loaded; a float32 array from elsewhere would fail in TF, which,
        # unlike numpy and torch, never promotes dtypes
        arrays = {k: tf.convert_to_tensor(np.ascontiguousarray(v, _dtype(v))) for k, v in batch.items()
                  if k in wanted and isinstance(v, np.ndarray)}
        meta = {k: v for k, v in batch.items()
                if k not in NOT_TRACED and not isinstance(v, np.ndarray) and k not in arrays}
        # each type's fitting net on its own atoms, as the PyTorch session does; the positions
        # are part of the trace (and of its key: same shapes with other types trace anew)
        groups = Model.type_groups(batch[keys.ATYPE], self.module.ref.ntypes)
        meta[GROUPS] = None if groups is None else tuple(tuple(int(i) for i in g) for g in groups)
        return arrays, meta

    def _function(self, cache, make, arrays, meta):
        """One ``tf.function`` per batch layout (shapes, dtypes, metadata): each is traced once,
        and TensorFlow's warning about frequent retracing never fires for many systems."""
        key = (tuple((k, tuple(v.shape), v.dtype.name) for k, v in sorted(arrays.items())),
               tuple(sorted(meta.items())))
        if key not in cache:
            cache[key] = tf.function(make(dict(meta)), autograph=False, jit_compile=self.xla)
        return cache[key]

    def predict(self, batch):
        wants_derivs = self.loss.kind == "ener"
        hessian = self.loss.needs_hessian and keys.HESSIAN in batch
        groups = batch.get(GROUPS)
        groups = None if groups is None else [np.asarray(g, dtype=np.int64) for g in groups]
        return self.module(batch[keys.COORD], batch[keys.ATYPE], batch[keys.NLIST], batch[keys.SHIFT],
                           derivatives=wants_derivs, hessian=hessian, centers=batch.get(keys.CENTERS),
                           groups=groups, mirror=batch.get(keys.MIRROR))

    # steps -----------------------------------------------------------------------------------
    def _make_train(self, meta):
        def step(arrays, lr):
            batch = {**arrays, **meta}
            with tf.GradientTape() as tape:
                pred = self.predict(batch)
                loss, parts = self.loss.compute(tf_ops, pred, batch, lr)
            if loss is not None:
                self.apply_gradients(tape.gradient(loss, self.params), lr)
            return parts

        return step

    def apply_gradients(self, grads, lr):
        """Clip (optionally) and step the variables that have a gradient; a variable the loss
        never reaches (the net of a type outside ``sel_type``) gets None and is left alone, as
        torch leaves a parameter without ``.grad``."""
        used = [(p, tf.convert_to_tensor(g)) for p, g in zip(self.params, grads) if g is not None]
        if not used:
            return
        params, grads = [p for p, _ in used], [g for _, g in used]
        if self.grad_max_norm:
            grads = clip_by_total_norm(grads, self.grad_max_norm)
        self.optimizer.apply(params, grads, lr)

    def _make_eval(self, meta):
        def evaluate(arrays, lr):
            batch = {**arrays, **meta}
            return self.loss.compute(tf_ops, self.predict(batch), batch, lr)[1]

        return evaluate

    def train_step(self, batch, lr):
        arrays, meta = self.split(batch)
        fn = self._function(self._train_fns, self._make_train, arrays, meta)
        parts = fn(arrays, tf.constant(float(lr), tf.float64))
        return {k: float(v) for k, v in parts.items()}

    def evaluate(self, batch, lr):
        arrays, meta = self.split(batch)
        fn = self._function(self._eval_fns, self._make_eval, arrays, meta)
        parts = fn(arrays, tf.constant(float(lr), tf.float64))
        return {k: float(v) for k, v in parts.items()}

    # results ---------------------------------------------------------------------------------
    def reference_model(self):
        return self.module.to_reference()

    def save_checkpoint(self, path, step, model=None):
        model = self.reference_model() if model is None else model
        write_checkpoint(path, model, step=step, config=self.full_config,
                         optimizer=self.optimizer.state())
