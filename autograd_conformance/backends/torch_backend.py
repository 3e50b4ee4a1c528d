"""The reference backend: PyTorch, on every device torch offers on this machine."""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autograd_conformance.protocol import Capability

_DTYPES = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64,
           "bool": torch.bool, "float16": torch.float16, "bfloat16": torch.bfloat16}


class TorchBackend:
    name = "torch"
    version = torch.__version__
    # the reference has every concept; its gradients are stored on tensors, not held by optimizers
    capabilities = frozenset(Capability) - {Capability.OPTIMIZER_GRADIENTS}
    default_float = "float32"
    linear_layout = "out_in"  # nn.Linear.weight has shape (out_features, in_features)
    # Tolerances: the defaults (assertions.DEFAULT_TOLERANCES), which are this reference's figures:
    # float32 results that went through reductions of up to ~10^5 terms (the seeds' 64x1000
    # two-layer net) agree with a float64 computation to about 1e-5 relative.

    # --- identity ---------------------------------------------------------------------
    def available_devices(self) -> list[str]:
        devices = ["cpu"]
        for kind in ("cuda", "xpu", "mps"):
            module = getattr(torch, kind, None)
            if module is None or not module.is_available():
                continue
            count = module.device_count() if hasattr(module, "device_count") else 1
            devices += [kind] + [f"{kind}:{i}" for i in range(1, count)]
        return devices

    def seed(self, n: int) -> None:
        torch.manual_seed(n)

    # --- tensors ------------------------------------------------------------------------
    def tensor(self, data, *, device, dtype=None, requires_grad=None):
        if isinstance(data, torch.Tensor):
            data = data.detach().cpu().numpy()
        array = np.asarray(data)
        if dtype is None:
            dtype = self.default_float if array.dtype.kind == "f" else None
        t = torch.as_tensor(array.copy(), dtype=_DTYPES[dtype] if dtype else None, device=device)
        return t.requires_grad_(bool(requires_grad))  # torch's default: untracked

    def to_numpy(self, t):
        return t.detach().cpu().numpy()

    def device_of(self, t) -> str:
        d = t.device
        return d.type if d.index in (None, 0) else f"{d.type}:{d.index}"

    # --- operations ---------------------------------------------------------------------
    def sum(self, t):
        return t.sum()

    def mean(self, t):
        return t.mean()

    def relu(self, t):
        return torch.relu(t)

    def exp(self, t):
        return torch.exp(t)

    def where(self, cond, a, b):
        return torch.where(cond, a, b)

    def reshape(self, t, shape):
        return t.reshape(tuple(shape))

    def max_pool2d(self, t, k):
        return F.max_pool2d(t, k)

    def mse_loss(self, pred, target, reduction="mean"):
        return F.mse_loss(pred, target, reduction=reduction)

    def cross_entropy(self, logits, labels):
        return F.cross_entropy(logits, labels)

    def bce_with_logits(self, z, y):
        return F.binary_cross_entropy_with_logits(z, y)

    def transpose(self, t):
        return t.t()

    def convolve2d(self, x, weight, bias):
        return F.conv2d(x, weight, bias)

    def jacobian(self, fn, x):
        return torch.autograd.functional.jacobian(fn, x)

    def to_device(self, t, device):
        return t.to(device)

    def variable(self, t):
        return torch.autograd.Variable(t)

    def item(self, t):
        return t.item()

    def clone(self, t):
        return t.clone()

    def mask_assign_(self, t, mask, value):
        t[mask] = value

    # --- functional differentiation -------------------------------------------------------
    def vjp(self, fn, inputs, cotangent=None):
        leaves = [x.detach().requires_grad_(True) for x in inputs]
        with torch.enable_grad():
            out = fn(*leaves)
        grads = torch.autograd.grad(out, leaves, grad_outputs=cotangent, allow_unused=True)
        grads = tuple(torch.zeros_like(x) if g is None else g for x, g in zip(leaves, grads))
        return out.detach(), grads

    # --- backward -------------------------------------------------------------------------
    def backward(self, out, cotangent=None, retain_graph=False):
        out.backward(cotangent, retain_graph=retain_graph)

    def record(self, fn, inputs, retain_graph=False):
        out = fn(*inputs)

        def pullback(cotangent=None):
            grads = torch.autograd.grad(out, inputs, grad_outputs=cotangent, retain_graph=retain_graph,
                                        allow_unused=True)
            return tuple(torch.zeros_like(x) if g is None else g for x, g in zip(inputs, grads))

        return out, pullback

    def grad(self, t):
        if t.is_leaf or t.retains_grad:
            return t.grad
        with warnings.catch_warnings():  # torch warns when .grad of a non-leaf is read
            warnings.simplefilter("ignore", UserWarning)
            return t.grad

    def requires_grad(self, t):
        return t.requires_grad

    def set_requires_grad(self, t, flag):
        return t.requires_grad_(flag)

    # --- graph nodes ----------------------------------------------------------------------
    def grad_fn(self, t):
        return t.grad_fn

    def node_name(self, node):
        return type(node).__name__

    def node_inputs(self, node):
        return [n for n, _ in node.next_functions if n is not None]

    # --- no_grad, detach, in place --------------------------------------------------------
    def no_grad(self):
        return torch.no_grad()

    def detach(self, t):
        return t.detach()

    def data(self, t):
        return t.data

    def sub_(self, t, delta):
        with torch.no_grad():
            t.sub_(delta)

    def zero_(self, t):
        if not t.requires_grad:  # a gradient, say: nothing to record, and no_grad costs ~3 µs a call
            t.zero_()
            return
        with torch.no_grad():
            t.zero_()

    def sub_recorded(self, t, delta):
        t.sub_(delta)

    # --- modules ----------------------------------------------------------------------------
    def linear(self, n_in, n_out, *, device, bias=True):
        return nn.Linear(n_in, n_out, bias=bias, device=device)

    def conv2d(self, c_in, c_out, k, *, device):
        return nn.Conv2d(c_in, c_out, k, device=device)

    def linear_parameters(self, layer):
        return layer.weight, layer.bias

    def conv2d_parameters(self, layer):
        return layer.weight, layer.bias

    def relu_layer(self):
        return nn.ReLU()

    def flatten_layer(self):
        return nn.Flatten()

    def sequential(self, *layers):
        return nn.Sequential(*layers)

    def parameter(self, t):
        return nn.Parameter(t.detach())

    def module(self, forward, **attributes):
        class Custom(nn.Module):
            def forward(self, *inputs):
                return forward(self, *inputs)

        m = Custom()
        for key, value in attributes.items():
            setattr(m, key, value)
        return m

    def named_parameters(self, m):
        return list(m.named_parameters())

    def module_zero_grad(self, m, set_to_none=None):
        m.zero_grad() if set_to_none is None else m.zero_grad(set_to_none=set_to_none)

    def module_to(self, m, device):
        return m.to(device)

    # --- optimizers -------------------------------------------------------------------------
    def sgd(self, params, lr, momentum=0.0):
        return torch.optim.SGD(list(params), lr=lr, momentum=momentum)

    def adam(self, params, lr):
        return torch.optim.Adam(list(params), lr=lr)

    def step(self, opt):
        opt.step()

    def zero_grad(self, opt, set_to_none=None):
        opt.zero_grad() if set_to_none is None else opt.zero_grad(set_to_none=set_to_none)

    # --- custom functions -------------------------------------------------------------------
    def custom_function(self, forward, backward):
        class Custom(torch.autograd.Function):
            @staticmethod
            def forward(ctx, *inputs):
                out, residuals = forward(*inputs)
                # save_for_backward takes tensors; other objects travel as attributes of ctx
                ctx.tensor_at = [i for i, r in enumerate(residuals) if isinstance(r, torch.Tensor)]
                ctx.save_for_backward(*(residuals[i] for i in ctx.tensor_at))
                ctx.residuals = [None if isinstance(r, torch.Tensor) else r for r in residuals]
                return out

            @staticmethod
            def backward(ctx, grad_output):
                residuals = list(ctx.residuals)
                for i, saved in zip(ctx.tensor_at, ctx.saved_tensors):
                    residuals[i] = saved
                return backward(tuple(residuals), grad_output)

        return Custom.apply
