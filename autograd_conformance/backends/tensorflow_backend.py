"""TensorFlow 2.21 (eager) with Keras 3: tapes, Variables and Keras layers.

How TensorFlow's concepts map onto the protocol
-----------------------------------------------
- Gradients are *returned* by ``tf.GradientTape.gradient``, never stored on a tensor: there is no
  ``.grad``, so STORES_GRADIENTS (and with it every claim about a stored gradient: accumulation,
  zero_grad, ``.grad`` of leaves) is left out. Gradient values come from ``vjp`` (a tape around
  ``fn``), and a backward that a tape computes is ``record`` (see the protocol): a
  non-persistent tape answers one ``gradient()`` call and raises RuntimeError on the second
  (FREES_GRAPH); ``GradientTape(persistent=True)`` is ``retain_graph=True`` (RETAIN_GRAPH, and
  with it REPEAT_BACKWARD: a kept recording may be pulled back again).
- There is no requires_grad flag on a tensor and no graph node: a tape records what it watches
  (trainable Variables automatically). REQUIRES_GRAD, SET_REQUIRES_GRAD and GRAPH_NODES are left
  out. ``tensor(requires_grad=True)`` makes a ``tf.Variable`` (the object TensorFlow
  differentiates and optimizers update); other tensors are constants.
- NO_GRAD is ``GradientTape.stop_recording()`` of the tape the adapter has open (inside ``vjp``,
  ``record`` or ``value_and_grad``); outside a tape TensorFlow records nothing, and the context
  does nothing. DETACH is ``tf.stop_gradient``. IN_PLACE is left out: tensors are immutable and a
  Variable has no untracked alias (``t.data``).
- Modules are Keras 3 layers: ``parameter(t)`` is a ``keras.Variable``, which a Keras layer tracks
  when assigned as an attribute (a raw ``tf.Variable`` or constant is not tracked); ``linear`` is
  ``keras.layers.Dense`` built for ``n_in`` inputs (kernel (n_in, n_out): ``linear_layout`` is
  "in_out"); ``relu_layer``/``flatten_layer``/``sequential`` are ``ReLU``/``Flatten``/
  ``Sequential``. Keras lists a layer's own variables before its sub-layers'; ``named_parameters``
  lists the variables Keras tracks (``trainable_weights``) in the order the attributes were
  assigned, with dotted attribute names (Keras's own names for built-in layers: kernel, bias).
  ``conv2d`` is unsupported: TensorFlow's CPU Conv2D takes NHWC input only, the protocol's conv
  layer NCHW.
- Optimizers are Keras's ``SGD`` (with ``momentum``) and ``Adam`` (Keras's defaults), stepped with
  gradients given explicitly (``apply_gradients``): they update the same Variables in place.
- Custom functions are ``tf.custom_gradient``: the forward's residuals reach the gradient function
  through its closure, TensorFlow's way of saving for backward.
- dtypes: float32 by default; float64 exists. Devices: the logical CPU (and GPUs, spelled
  ``gpu``/``gpu:<i>``, in a TensorFlow build that has them).

Import: ``TF_CPP_MIN_LOG_LEVEL`` (C++ log noise) and ``TF_ENABLE_ONEDNN_OPTS`` (oneDNN's
reordered float32 reductions, which change results in the last bits from run to run of different
shapes) are set to 3 and 0 with ``os.environ.setdefault`` before TensorFlow is imported, unless the
environment sets them. Triton (which torch installs and torchvision imports, through
``torch._dynamo``, for the suite's reference-pipeline claims) segfaults when it is imported after
TensorFlow 2.21 in the same process (both bundle LLVM); imported first, both work. So the adapter
imports triton, where it is installed, before TensorFlow.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
if importlib.util.find_spec("triton") is not None:  # see the docstring: triton after TF segfaults
    import triton  # noqa: F401

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from autograd_conformance.protocol import Capability, Unsupported  # noqa: E402

_DTYPES = {"float32": tf.float32, "float64": tf.float64, "int64": tf.int64, "bool": tf.bool,
           "float16": tf.float16, "bfloat16": tf.bfloat16}
_ZERO = tf.UnconnectedGradients.ZERO  # an input fn does not depend on gets zeros, as the protocol says


class _Optimizer:
    """A Keras optimizer and the Variables it was given (Keras takes them at each apply)."""

    def __init__(self, keras_optimizer, params):
        self.optimizer, self.params = keras_optimizer, list(params)


class TensorflowBackend:
    name = "tensorflow"
    version = tf.__version__
    capabilities = frozenset({Capability.FREES_GRAPH, Capability.RETAIN_GRAPH, Capability.REPEAT_BACKWARD,
                              Capability.NO_GRAD,
                              Capability.DETACH, Capability.MODULES, Capability.OPTIMIZERS,
                              Capability.CUSTOM_FUNCTION, Capability.FLOAT64})
    default_float = "float32"
    linear_layout = "in_out"  # keras.layers.Dense.kernel has shape (input_dim, units)
    # Tolerances: the defaults (assertions.DEFAULT_TOLERANCES). Eigen's CPU kernels sum in their own
    # order; results agree with a float64 reference as closely as torch's do.

    def __init__(self) -> None:
        self._tapes: list[tf.GradientTape] = []  # the tapes the adapter has open, innermost last

    # --- identity ---------------------------------------------------------------------
    def _device_table(self) -> dict[str, str]:
        table = {}
        for kind in ("CPU", "GPU"):
            for i, d in enumerate(tf.config.list_logical_devices(kind)):
                name = kind.lower()
                table[name if i == 0 else f"{name}:{i}"] = d.name
        return table

    def available_devices(self) -> list[str]:
        return list(self._device_table())

    def seed(self, n: int) -> None:
        # keras.utils.set_random_seed seeds Python's, NumPy's, TensorFlow's and Keras's generators;
        # NumPy's global state is the suite's (its test data), so it is left as it was.
        state = np.random.get_state()
        keras.utils.set_random_seed(n)
        np.random.set_state(state)

    def _device(self, device: str):
        table = self._device_table()
        if device not in table:
            raise ValueError(f"TensorFlow has no device {device!r} here; it has {', '.join(table)}")
        return tf.device(table[device])

    # --- tensors ------------------------------------------------------------------------
    def tensor(self, data, *, device, dtype=None, requires_grad=None):
        array = np.array(data)  # a copy: later edits of the caller's array do not leak in
        if dtype is None and array.dtype.kind == "f":
            dtype = self.default_float
        with self._device(device):
            value = tf.constant(array, dtype=_DTYPES[dtype] if dtype else None)
            return tf.Variable(value) if requires_grad else value

    def to_numpy(self, t):
        return np.array(t.numpy() if hasattr(t, "numpy") else t)  # tf.Tensor, tf.Variable, keras.Variable

    def device_of(self, t) -> str:
        device = tf.DeviceSpec.from_string(t.device)
        for name, full in self._device_table().items():
            spec = tf.DeviceSpec.from_string(full)
            if (spec.device_type, spec.device_index) == (device.device_type, device.device_index):
                return name
        return t.device

    # --- operations ---------------------------------------------------------------------
    def sum(self, t):
        return tf.reduce_sum(t)

    def mean(self, t):
        return tf.reduce_mean(t)

    def relu(self, t):
        return tf.nn.relu(t)

    def exp(self, t):
        return tf.exp(t)

    def where(self, cond, a, b):
        return tf.where(cond, a, tf.cast(b, a.dtype) if not tf.is_tensor(b) else b)

    def reshape(self, t, shape):
        return tf.reshape(t, tuple(shape))

    def matmul(self, a, b):
        # tf.matmul (and @) takes matrices only; numpy's rules for vectors are TensorFlow's
        # tensordot (vector @ matrix, vector @ vector) and matvec (matrix @ vector)
        if len(a.shape) >= 2 and len(b.shape) >= 2:
            return tf.matmul(a, b)
        if len(b.shape) == 1 and len(a.shape) >= 2:
            return tf.linalg.matvec(a, b)
        return tf.tensordot(a, b, axes=1)

    def item(self, t):
        return t.numpy().item()

    def max_pool2d(self, t, k):
        # TensorFlow's CPU max pool takes NHWC: the (N, C, H, W) tensor is transposed there and back
        nhwc = tf.transpose(t, (0, 2, 3, 1))
        return tf.transpose(tf.nn.max_pool2d(nhwc, k, k, "VALID"), (0, 3, 1, 2))

    def mse_loss(self, pred, target, reduction="mean"):
        squared = tf.math.squared_difference(pred, target)
        return tf.reduce_mean(squared) if reduction == "mean" else tf.reduce_sum(squared)

    def cross_entropy(self, logits, labels):
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))

    def bce_with_logits(self, z, y):
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z))

    # --- differentiation: tapes -------------------------------------------------------------
    @contextlib.contextmanager
    def _tape(self, persistent=False):
        with tf.GradientTape(persistent=persistent) as tape:
            self._tapes.append(tape)
            try:
                yield tape
            finally:
                self._tapes.pop()

    def vjp(self, fn, inputs, cotangent=None):
        # copies, so that the same tensor passed twice is two inputs, and Variables are not touched
        leaves = [tf.identity(x) for x in inputs]
        with self._tape() as tape:
            for leaf in leaves:
                tape.watch(leaf)
            out = fn(*leaves)
        grads = tape.gradient(out, leaves, output_gradients=cotangent, unconnected_gradients=_ZERO)
        return out, tuple(grads)

    def record(self, fn, inputs, retain_graph=False):
        inputs = list(inputs)
        tape = tf.GradientTape(persistent=retain_graph)  # persistent: gradient() may run again
        with tape:
            self._tapes.append(tape)
            try:
                for x in inputs:
                    tape.watch(x)
                out = fn(*inputs)
            finally:
                self._tapes.pop()

        def pullback(cotangent=None):
            return tuple(tape.gradient(out, inputs, output_gradients=cotangent, unconnected_gradients=_ZERO))

        return out, pullback

    def value_and_grad(self, m, loss_fn):
        params = [p for _, p in self.named_parameters(m)]
        with self._tape() as tape:
            loss = loss_fn()
        # a parameter the loss does not depend on gets None, TensorFlow's own answer: asking for
        # zeros (unconnected_gradients=ZERO) raises AttributeError for a Keras 3 variable in TF 2.21
        # (it reads the variable's dtype, a string there, as a tf.DType)
        return loss, tuple(tape.gradient(loss, params))

    # --- no_grad, detach ------------------------------------------------------------------
    def no_grad(self):
        if not self._tapes:
            return contextlib.nullcontext()  # no tape is open: nothing is being recorded
        return self._tapes[-1].stop_recording()

    def detach(self, t):
        return tf.stop_gradient(t)

    # --- modules ----------------------------------------------------------------------------
    def parameter(self, t):
        return keras.Variable(self.to_numpy(t), dtype=t.dtype.name)

    def module(self, forward, **attributes):
        class Custom(keras.layers.Layer):
            def call(self, *inputs):
                return forward(self, *inputs)

        m = Custom()
        m._conformance_order = tuple(attributes)  # the order attributes were assigned
        for key, value in attributes.items():
            setattr(m, key, value)
        m.built = True  # its variables and layers exist already: Keras need not build it on first call
        return m

    def named_parameters(self, m):
        tracked = {id(v) for v in m.trainable_weights}
        if isinstance(m, keras.Sequential):
            children = [(str(i), layer) for i, layer in enumerate(m.layers)]
        elif hasattr(m, "_conformance_order"):
            children = [(key, getattr(m, key)) for key in m._conformance_order]
        else:  # a built-in layer: its own variables, in Keras's order
            return [(v.name, v) for v in m.trainable_weights]
        named = []
        for key, value in children:
            if isinstance(value, keras.layers.Layer):
                named += [(f"{key}.{name}", p) for name, p in self.named_parameters(value)]
            elif id(value) in tracked:
                named.append((key, value))
        seen = set()  # a layer assigned twice lists its variables once, as trainable_weights does
        return [(n, p) for n, p in named if id(p) in tracked and not (id(p) in seen or seen.add(id(p)))]

    def load_parameters(self, m, values):
        for (_, p), value in zip(self.named_parameters(m), values, strict=True):
            p.assign(value)

    def linear(self, n_in, n_out, *, device, bias=True):
        with self._device(device):
            layer = keras.layers.Dense(n_out, use_bias=bias)
            layer.build((None, n_in))
        return layer

    def conv2d(self, c_in, c_out, k, *, device):
        raise Unsupported("conv2d on NCHW input (TensorFlow's CPU Conv2D takes NHWC only)")

    def linear_parameters(self, layer):
        return layer.kernel, layer.bias

    def relu_layer(self):
        return keras.layers.ReLU()

    def flatten_layer(self):
        return keras.layers.Flatten()

    def sequential(self, *layers):
        return keras.Sequential(list(layers))

    # --- optimizers: stepped with gradients given explicitly ---------------------------------
    def sgd(self, params, lr, momentum=0.0):
        return _Optimizer(keras.optimizers.SGD(learning_rate=lr, momentum=momentum), params)

    def adam(self, params, lr):
        return _Optimizer(keras.optimizers.Adam(learning_rate=lr), params)

    def apply_gradients(self, opt, grads):
        opt.optimizer.apply_gradients(zip(grads, opt.params))
        return list(opt.params)  # the same Variables, updated in place

    # --- custom functions -------------------------------------------------------------------
    def custom_function(self, forward, backward):
        @tf.custom_gradient
        def f(*inputs):
            out, residuals = forward(*inputs)

            def grad(upstream):
                return tuple(backward(tuple(residuals), upstream))

            return out, grad

        return f
