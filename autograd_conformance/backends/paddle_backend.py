"""PaddlePaddle (3.3, dynamic graph mode) adapter.

How Paddle's autograd maps onto the protocol
--------------------------------------------
- Tracking is Paddle's ``stop_gradient`` flag, the inverse of ``requires_grad``: new tensors have
  ``stop_gradient=True``; ``set_requires_grad(t, flag)`` sets ``t.stop_gradient = not flag``.
  (Paddle 3 also has torch-style ``requires_grad`` aliases; the adapter uses the native flag.)
- Graph nodes are ``Tensor.grad_fn`` (a ``GradNodeBase``), named by ``node.name()``
  ("ScaleGradNode", "MeanGradNode", ...), with inputs ``node.next_functions``. The adapter returns
  ``t.grad_fn`` as Paddle gives it; note that Paddle returns a ``GradNodeAccumulation`` node for a
  leaf, where torch returns None.
- ``backward(seed, retain_graph)`` is ``Tensor.backward(grad_tensor, retain_graph)``; ``vjp`` is
  ``paddle.grad(outputs, inputs, grad_outputs, allow_unused=True)`` on detached copies of the
  inputs (it writes no ``.grad``); an unused input's None becomes zeros.
- ``no_grad`` is ``paddle.no_grad()``; ``detach`` is ``Tensor.detach()`` (shares memory);
  ``data(t)`` is ``t.data`` (an untracked tensor sharing t's memory). In-place updates
  (``subtract_``, ``zero_``) run under ``paddle.no_grad()``: Paddle refuses an in-place operation on
  a leaf that does not stop gradient ("Leaf Var ... can't use inplace strategy") unless it is not
  recorded.
- Modules are ``paddle.nn.Layer``: ``parameter(t)`` is ``EagerParamBase.from_tensor`` (Paddle's
  parameter class; ``paddle.nn.Parameter`` is the same class), which ``Layer.__setattr__``
  registers; a plain tensor assigned to a Layer is registered as a *buffer*, not a parameter.
  ``linear`` is ``paddle.nn.Linear``, whose weight has shape (in, out) (torch's is (out, in)).
  ``module_zero_grad`` / ``zero_grad`` are ``Layer.clear_gradients`` / ``Optimizer.clear_grad``
  with ``set_to_zero = not set_to_none``, and without it for None (Paddle's default: fill with zeros).
- Optimizers: ``sgd`` is ``paddle.optimizer.SGD`` without momentum and ``paddle.optimizer.Momentum``
  with it (Paddle's SGD has no momentum argument); ``adam`` is ``paddle.optimizer.Adam`` with its
  defaults (beta1 0.9, beta2 0.999, epsilon 1e-8).
- Custom functions are ``paddle.autograd.PyLayer`` (``ctx.save_for_backward`` /
  ``ctx.saved_tensor()``).

Devices: ``cpu`` always; ``gpu`` / ``gpu:<i>`` and ``xpu`` / ``xpu:<i>`` in Paddle's own spelling
when this Paddle build has them (index 0 is written without ``:0``).
"""

from __future__ import annotations

import warnings

import numpy as np

with warnings.catch_warnings():  # paddle's import warns about ccache for its C++ extension builder
    warnings.simplefilter("ignore")
    import paddle
    import paddle.nn.functional as F
    from paddle.autograd import PyLayer
    from paddle.base.framework import EagerParamBase

from autograd_conformance.protocol import Capability

_DTYPES = {"float32": "float32", "float64": "float64", "int64": "int64", "bool": "bool",
           "float16": "float16", "bfloat16": "bfloat16"}


class PaddleBackend:
    name = "paddle"
    version = paddle.__version__
    capabilities = frozenset(Capability) - {Capability.PYTORCH_API, Capability.OPTIMIZER_GRADIENTS}
    default_float = paddle.get_default_dtype()  # "float32"
    linear_layout = "in_out"  # paddle.nn.Linear.weight has shape (in_features, out_features)
    # Tolerances: the defaults (assertions.DEFAULT_TOLERANCES). Paddle's CPU kernels (MKL/oneDNN matmul,
    # its own reductions) differ from torch's in summation order only; 1e-4 relative after
    # reductions of ~10^5 terms holds for every comparison in the suite.

    # --- identity ---------------------------------------------------------------------
    def available_devices(self) -> list[str]:
        if self._devices is None:
            self._devices = self._probe_devices()
        return list(self._devices)

    _devices: list[str] | None = None

    @staticmethod
    def _probe_devices() -> list[str]:
        devices = ["cpu"]
        counts = {"gpu": paddle.device.cuda.device_count() if paddle.is_compiled_with_cuda() else 0,
                  "xpu": paddle.device.xpu.device_count() if paddle.is_compiled_with_xpu() and
                  hasattr(paddle.device, "xpu") else 0}
        for kind, count in counts.items():
            if count:
                devices += [kind] + [f"{kind}:{i}" for i in range(1, count)]
        return devices

    def seed(self, n: int) -> None:
        paddle.seed(n)

    def _place(self, device: str) -> str:
        """Paddle's place string: "cpu", "gpu:0", "gpu:1", ..."""
        if device not in self.available_devices():
            raise ValueError(f"paddle device {device!r} is not available here; available: "
                             f"{', '.join(self.available_devices())}")
        return device if device == "cpu" or ":" in device else f"{device}:0"

    # --- tensors ------------------------------------------------------------------------
    def tensor(self, data, *, device, dtype=None, requires_grad=None):
        if isinstance(data, paddle.Tensor):
            data = data.numpy()
        array = np.asarray(data)
        if dtype is None:
            dtype = self.default_float if array.dtype.kind == "f" else None
        if dtype is None and array.dtype.kind == "i":
            dtype = "int64"
        return paddle.to_tensor(array.copy(), dtype=_DTYPES[dtype] if dtype else None,
                                place=self._place(device), stop_gradient=not requires_grad)

    def to_numpy(self, t):
        return t.numpy()

    def device_of(self, t) -> str:
        place = t.place
        if place.is_cpu_place():
            return "cpu"
        kind = "gpu" if place.is_gpu_place() else "xpu" if place.is_xpu_place() else str(place)
        index = place.gpu_device_id() if kind == "gpu" else place.xpu_device_id() if kind == "xpu" else 0
        return kind if index == 0 else f"{kind}:{index}"

    # --- operations ---------------------------------------------------------------------
    def sum(self, t):
        return t.sum()

    def mean(self, t):
        return t.mean()

    def relu(self, t):
        return F.relu(t)

    def exp(self, t):
        return paddle.exp(t)

    def where(self, cond, a, b):
        if not isinstance(b, paddle.Tensor):
            b = paddle.full_like(a, b)
        return paddle.where(cond, a, b)

    def reshape(self, t, shape):
        return paddle.reshape(t, list(shape))

    def max_pool2d(self, t, k):
        return F.max_pool2d(t, kernel_size=k)

    def mse_loss(self, pred, target, reduction="mean"):
        return F.mse_loss(pred, target, reduction=reduction)

    def cross_entropy(self, logits, labels):
        return F.cross_entropy(logits, labels)

    def bce_with_logits(self, z, y):
        return F.binary_cross_entropy_with_logits(z, y)

    def item(self, t):
        return t.item()

    def clone(self, t):
        return t.clone()

    def mask_assign_(self, t, mask, value):
        t[mask] = value

    def transpose(self, t):
        return paddle.t(t)

    def convolve2d(self, x, weight, bias):
        return F.conv2d(x, weight, bias)

    def to_device(self, t, device):
        return t.to(self._place(device))

    # --- functional differentiation -------------------------------------------------------
    def vjp(self, fn, inputs, cotangent=None):
        leaves = []
        for x in inputs:
            leaf = x.detach()
            leaf.stop_gradient = False
            leaves.append(leaf)
        with paddle.set_grad_enabled(True):
            out = fn(*leaves)
        grads = paddle.grad(out, leaves, grad_outputs=cotangent, allow_unused=True)
        grads = tuple(paddle.zeros_like(x) if g is None else g for x, g in zip(leaves, grads))
        return out.detach(), grads

    # --- backward -------------------------------------------------------------------------
    def backward(self, out, cotangent=None, retain_graph=False):
        out.backward(cotangent, retain_graph=retain_graph)

    def record(self, fn, inputs, retain_graph=False):
        out = fn(*inputs)

        def pullback(cotangent=None):
            grads = paddle.grad(out, list(inputs), grad_outputs=cotangent, retain_graph=retain_graph,
                                allow_unused=True)
            return tuple(paddle.zeros_like(x) if g is None else g for x, g in zip(inputs, grads))

        return out, pullback

    def grad(self, t):
        return t.grad

    def requires_grad(self, t):
        return not t.stop_gradient

    def set_requires_grad(self, t, flag):
        t.stop_gradient = not flag
        return t

    # --- graph nodes ----------------------------------------------------------------------
    def grad_fn(self, t):
        return t.grad_fn

    def node_name(self, node):
        return node.name()

    def node_inputs(self, node):
        return [n for n in node.next_functions if n is not None]

    # --- no_grad, detach, in place --------------------------------------------------------
    def no_grad(self):
        return paddle.no_grad()

    def detach(self, t):
        return t.detach()

    def data(self, t):
        return t.data

    def sub_(self, t, delta):
        with paddle.no_grad():
            t.subtract_(delta)

    def zero_(self, t):
        with paddle.no_grad():
            t.zero_()

    def sub_recorded(self, t, delta):
        t.subtract_(delta)  # Paddle refuses this on a leaf that does not stop gradient

    # --- modules ----------------------------------------------------------------------------
    def _on(self, layer, device):
        if device != "cpu":
            layer.to(device=self._place(device))
        return layer

    def linear(self, n_in, n_out, *, device, bias=True):
        return self._on(paddle.nn.Linear(n_in, n_out, bias_attr=None if bias else False), device)

    def conv2d(self, c_in, c_out, k, *, device):
        return self._on(paddle.nn.Conv2D(c_in, c_out, k), device)

    def linear_parameters(self, layer):
        return layer.weight, layer.bias

    def conv2d_parameters(self, layer):
        return layer.weight, layer.bias  # weight (out_channels, in_channels, k, k), as torch

    def relu_layer(self):
        return paddle.nn.ReLU()

    def flatten_layer(self):
        return paddle.nn.Flatten()

    def sequential(self, *layers):
        return paddle.nn.Sequential(*layers)

    def parameter(self, t):
        return EagerParamBase.from_tensor(t.detach())

    def module(self, forward, **attributes):
        class Custom(paddle.nn.Layer):
            def forward(self, *inputs):
                return forward(self, *inputs)

        m = Custom()
        for key, value in attributes.items():
            setattr(m, key, value)
        return m

    def named_parameters(self, m):
        return list(m.named_parameters())

    def module_zero_grad(self, m, set_to_none=None):
        if set_to_none is None:  # Paddle's own default: fill with zeros
            m.clear_gradients()
        else:
            m.clear_gradients(set_to_zero=not set_to_none)

    # --- optimizers -------------------------------------------------------------------------
    def sgd(self, params, lr, momentum=0.0):
        params = list(params)
        if momentum:
            return paddle.optimizer.Momentum(learning_rate=lr, momentum=momentum, parameters=params)
        return paddle.optimizer.SGD(learning_rate=lr, parameters=params)

    def adam(self, params, lr):
        return paddle.optimizer.Adam(learning_rate=lr, parameters=list(params))

    def step(self, opt):
        opt.step()

    def zero_grad(self, opt, set_to_none=None):
        if set_to_none is None:  # Paddle's own default: fill with zeros
            opt.clear_grad()
        else:
            opt.clear_grad(set_to_zero=not set_to_none)

    # --- custom functions -------------------------------------------------------------------
    def custom_function(self, forward, backward):
        class Custom(PyLayer):
            @staticmethod
            def forward(ctx, *inputs):
                out, residuals = forward(*inputs)
                # save_for_backward takes tensors; other objects travel as attributes of ctx
                ctx.tensor_at = [i for i, r in enumerate(residuals) if isinstance(r, paddle.Tensor)]
                ctx.save_for_backward(*(residuals[i] for i in ctx.tensor_at))
                ctx.residuals = [None if isinstance(r, paddle.Tensor) else r for r in residuals]
                ctx.untracked = [getattr(x, "stop_gradient", True) for x in inputs]
                return out

            @staticmethod
            def backward(ctx, grad_output):
                residuals = list(ctx.residuals)
                for i, saved in zip(ctx.tensor_at, ctx.saved_tensor() or ()):
                    residuals[i] = saved
                grads = backward(tuple(residuals), grad_output)
                # PyLayer's rule: None for an input that stops gradient (Paddle raises otherwise)
                return tuple(None if untracked else g for g, untracked in zip(grads, ctx.untracked))

        return Custom.apply
