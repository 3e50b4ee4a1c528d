"""MLX 0.32 (https://ml-explore.github.io/mlx): function transformations over lazy arrays.

How MLX's concepts map onto the protocol
----------------------------------------
- Gradients are return values of function transformations (``mx.vjp``, ``mx.value_and_grad``,
  ``mlx.nn.value_and_grad``); there is no tape, no recorded graph kept between calls and no
  per-array state. So STORES_GRADIENTS, REQUIRES_GRAD, SET_REQUIRES_GRAD, GRAPH_NODES, FREES_GRAPH,
  RETAIN_GRAPH, REPEAT_BACKWARD and NO_GRAD (nothing is recorded outside a transformation) are left
  out, and so is IN_PLACE (the suite's in-place updates are storage aliases, ``t.data``; MLX's
  optimizers and ``Module.update`` put new arrays in place of the old ones).
- DETACH is ``mx.stop_gradient``.
- Modules are ``mlx.nn.Module``: every array a module holds is a parameter (MLX has no parameter
  marker, so ``parameter(t)`` returns ``t``); ``named_parameters`` is
  ``mlx.utils.tree_flatten(m.trainable_parameters())`` (attribute order, dotted names);
  ``linear`` is ``nn.Linear`` (weight (n_out, n_in): ``linear_layout`` is "out_in");
  ``relu_layer``/``sequential`` are ``nn.ReLU``/``nn.Sequential``. mlx.nn has no Flatten layer and
  its ``Conv2d`` takes NHWC input (the protocol's conv layer NCHW): ``flatten_layer`` is left out
  and ``conv2d`` is unsupported. ``value_and_grad(m, loss_fn)`` is ``nn.value_and_grad(m, loss_fn)``.
- Optimizers are ``mlx.optimizers.SGD`` (with ``momentum``) and ``Adam`` with MLX's defaults
  (note: ``bias_correction=False``). They step with gradients given explicitly: an optimizer made
  from a module (``optimizes_modules``) steps it with ``Optimizer.update(model, grads)``, which
  puts the new arrays into the model (``Module.update``); one made from a list of arrays returns
  the new arrays (``Optimizer.apply_gradients``). Either way the arrays given to the optimizer are
  left unchanged: MLX arrays are values.
- Custom functions are ``mx.custom_function`` with a custom ``vjp``. MLX hands the vjp the primals,
  the cotangent and the output, not tensors saved by the forward: the residuals that the
  protocol's backward receives are computed by the forward from those primals, as MLX's own
  examples compute what the vjp needs from the primals.
- dtypes: float32 by default; float64 on the CPU. Devices: MLX arrays live in unified memory and
  operations run on the default device; the adapter offers that one device (``cpu`` with the
  ``mlx[cpu]`` wheel).
"""

from __future__ import annotations

from importlib.metadata import version as _version

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

from autograd_conformance.protocol import Capability, Unsupported

_DTYPES = {"float32": mx.float32, "float64": mx.float64, "int64": mx.int64, "bool": mx.bool_,
           "float16": mx.float16, "bfloat16": mx.bfloat16}


class _Optimizer:
    """An MLX optimizer and what it steps: a module, or the current list of arrays."""

    def __init__(self, optimizer, target):
        self.optimizer = optimizer
        self.module = target if isinstance(target, nn.Module) else None
        self.params = None if self.module is not None else list(target)


def _device_name() -> str:
    return "cpu" if mx.default_device().type == mx.DeviceType.cpu else "gpu"


class MlxBackend:
    name = "mlx"
    version = _version("mlx")
    default_float = "float32"
    linear_layout = "out_in"  # mlx.nn.Linear.weight has shape (output_dims, input_dims)
    optimizes_modules = True  # MLX's optimizers step a model: Optimizer.update(model, grads)
    # Tolerances: the defaults (assertions.DEFAULT_TOLERANCES). MLX's CPU kernels (BLAS matmul, its own
    # reductions) differ from torch's in summation order only.

    @property
    def capabilities(self) -> frozenset[Capability]:
        f64 = {Capability.FLOAT64} if _device_name() == "cpu" else set()  # float64: CPU only
        return frozenset({Capability.DETACH, Capability.MODULES, Capability.OPTIMIZERS,
                          Capability.CUSTOM_FUNCTION, *f64})

    # --- identity ---------------------------------------------------------------------
    def available_devices(self) -> list[str]:
        return [_device_name()]

    def seed(self, n: int) -> None:
        mx.random.seed(n)

    # --- tensors ------------------------------------------------------------------------
    def tensor(self, data, *, device, dtype=None, requires_grad=None):
        # requires_grad: MLX has no flag; any array can be differentiated by a transformation
        if device not in self.available_devices():
            raise ValueError(f"MLX runs on {_device_name()} here, not on {device!r}")
        array = np.array(data)  # our own copy
        if dtype is None and array.dtype.kind == "f":
            dtype = self.default_float
        return mx.array(array, dtype=_DTYPES[dtype] if dtype else None)

    def to_numpy(self, t):
        return np.array(t)

    def device_of(self, t) -> str:
        return _device_name()  # arrays are in unified memory; operations run on the default device

    # --- operations ---------------------------------------------------------------------
    def sum(self, t):
        return mx.sum(t)

    def mean(self, t):
        return mx.mean(t)

    def relu(self, t):
        return nn.relu(t)

    def exp(self, t):
        return mx.exp(t)

    def where(self, cond, a, b):
        return mx.where(cond, a, b)

    def reshape(self, t, shape):
        return mx.reshape(t, tuple(shape))

    def item(self, t):
        return t.item()

    def max_pool2d(self, t, k):
        # mlx.nn.MaxPool2d takes NHWC: the (N, C, H, W) tensor is transposed there and back
        return mx.transpose(nn.MaxPool2d(k)(mx.transpose(t, (0, 2, 3, 1))), (0, 3, 1, 2))

    def mse_loss(self, pred, target, reduction="mean"):
        return nn.losses.mse_loss(pred, target, reduction=reduction)

    def cross_entropy(self, logits, labels):
        return nn.losses.cross_entropy(logits, labels, reduction="mean")

    def bce_with_logits(self, z, y):
        return nn.losses.binary_cross_entropy(z, y, with_logits=True, reduction="mean")

    # --- functional differentiation -------------------------------------------------------
    def vjp(self, fn, inputs, cotangent=None):
        inputs = list(inputs)
        if cotangent is None:  # a scalar output: its value and gradient
            out, grads = mx.value_and_grad(fn, argnums=list(range(len(inputs))))(*inputs)
            if len(inputs) == 1:
                grads = (grads,)  # MLX gives one gradient, not a tuple of one, for one argnum
        else:
            (out,), grads = mx.vjp(lambda *a: fn(*a), inputs, [cotangent])
        return out, tuple(grads)

    def value_and_grad(self, m, loss_fn):
        loss, tree = nn.value_and_grad(m, loss_fn)()
        grads = dict(tree_flatten(tree))
        return loss, tuple(grads[name] for name, _ in self.named_parameters(m))

    # --- detach ---------------------------------------------------------------------------
    def detach(self, t):
        return mx.stop_gradient(t)

    # --- modules ----------------------------------------------------------------------------
    def parameter(self, t):
        return t  # every array a Module holds is a parameter

    def module(self, forward, **attributes):
        class Custom(nn.Module):
            def __call__(self, *inputs):
                return forward(self, *inputs)

        m = Custom()
        for key, value in attributes.items():
            setattr(m, key, value)
        return m

    def named_parameters(self, m):
        return tree_flatten(m.trainable_parameters())

    def load_parameters(self, m, values):
        names = [name for name, _ in self.named_parameters(m)]
        m.update(tree_unflatten(list(zip(names, values, strict=True))))

    def linear(self, n_in, n_out, *, device, bias=True):
        return nn.Linear(n_in, n_out, bias=bias)

    def conv2d(self, c_in, c_out, k, *, device):
        raise Unsupported("conv2d on NCHW input (mlx.nn.Conv2d takes NHWC)")

    def linear_parameters(self, layer):
        return layer.weight, layer.get("bias")

    def relu_layer(self):
        return nn.ReLU()

    def sequential(self, *layers):
        return nn.Sequential(*layers)

    # --- optimizers: stepped with gradients given explicitly ---------------------------------
    def sgd(self, params, lr, momentum=0.0):
        return _Optimizer(optim.SGD(learning_rate=lr, momentum=momentum), params)

    def adam(self, params, lr):
        return _Optimizer(optim.Adam(learning_rate=lr), params)

    def apply_gradients(self, opt, grads):
        grads = list(grads)
        if opt.module is not None:
            names = [name for name, _ in self.named_parameters(opt.module)]
            opt.optimizer.update(opt.module, tree_unflatten(list(zip(names, grads))))
            return [p for _, p in self.named_parameters(opt.module)]
        keys = [f"p{i}" for i in range(len(opt.params))]
        new = opt.optimizer.apply_gradients(dict(zip(keys, grads)), dict(zip(keys, opt.params)))
        opt.params = [new[k] for k in keys]
        return list(opt.params)

    # --- custom functions -------------------------------------------------------------------
    def custom_function(self, forward, backward):
        @mx.custom_function
        def f(*inputs):
            return forward(*inputs)[0]

        @f.vjp
        def f_vjp(primals, cotangent, output):
            primals = (primals,) if isinstance(primals, mx.array) else tuple(primals)
            _, residuals = forward(*primals)
            return tuple(backward(tuple(residuals), cotangent))

        return f
