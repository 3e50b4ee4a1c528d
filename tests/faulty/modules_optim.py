"""Faulty backends for modules, parameters and optimizers: the reference adapter with one
behaviour broken.

Each class breaks one concept the way a buggy engine would, on every path that exposes it; CASES
lists the claims each targets (tests/test_faulty_backends.py; what else each breaks: side_effects.json)."""

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from autograd_conformance.backends.torch_backend import TorchBackend


def _optimizer_params(opt):
    return [p for group in opt.param_groups for p in group["params"]]


# ---------------------------------------------------------------------------- optimizers

class StepRebindsStorage(TorchBackend):
    """step() gives each parameter new storage holding the new values (p.data = new) instead of
    writing into the old storage: the parameter objects change, earlier aliases do not."""

    def step(self, opt):
        params = _optimizer_params(opt)
        old = [p.detach().clone() for p in params]
        opt.step()
        with torch.no_grad():
            for p, values in zip(params, old):
                new = p.detach().clone()
                p.copy_(values)  # the original storage keeps the old values ...
                p.data = new  # ... and the parameter now points at a fresh tensor


class _CopyingOptimizer:
    """Steps its own copies of the parameters: takes their gradients in, never writes back."""

    def __init__(self, params, make):
        self.params = list(params)
        self.copies = [nn.Parameter(p.detach().clone()) for p in self.params]
        self.inner = make(self.copies)

    def step(self):
        for p, c in zip(self.params, self.copies):
            c.grad = None if p.grad is None else p.grad.detach().clone()
        self.inner.step()

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()


class OptimizerCopiesParams(TorchBackend):
    """the optimizers update copies of the parameters they are given (the misreading 000 Test 1
    sets out to rule out): gradients are read from the model, new values never reach it."""

    def sgd(self, params, lr, momentum=0.0):
        return _CopyingOptimizer(params, lambda ps: super(OptimizerCopiesParams, self).sgd(ps, lr, momentum))

    def adam(self, params, lr):
        return _CopyingOptimizer(params, lambda ps: super(OptimizerCopiesParams, self).adam(ps, lr))


class MomentumIgnored(TorchBackend):
    """SGD accepts a momentum argument and ignores it (plain SGD)."""

    def sgd(self, params, lr, momentum=0.0):
        return super().sgd(params, lr, 0.0)


class SgdDefaultWeightDecay(TorchBackend):
    """SGD applies an L2 weight decay of 0.01 that nobody asked for."""

    def sgd(self, params, lr, momentum=0.0):
        return torch.optim.SGD(list(params), lr=lr, momentum=momentum, weight_decay=0.01)


class _AdamWithoutBiasCorrection(torch.optim.Optimizer):
    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["m"], state["v"] = torch.zeros_like(p), torch.zeros_like(p)
                m, v = state["m"], state["v"]
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                p.addcdiv_(m, v.sqrt().add_(group["eps"]), value=-group["lr"])  # m, v not corrected


class AdamNoBiasCorrection(TorchBackend):
    """Adam divides the raw moments m / (sqrt(v) + eps), without the 1 - beta^t corrections."""

    def adam(self, params, lr):
        return _AdamWithoutBiasCorrection(list(params), lr)


# ---------------------------------------------------------------------------- modules

class PlainTensorsRegistered(TorchBackend):
    """a custom module registers every tensor attribute as a parameter, plain tensors included."""

    def module(self, forward, **attributes):
        attributes = {k: nn.Parameter(v.detach()) if isinstance(v, torch.Tensor) and
                      not isinstance(v, nn.Parameter) else v for k, v in attributes.items()}
        return super().module(forward, **attributes)


class NamedParametersReversed(TorchBackend):
    """named_parameters lists the parameters last-registered first."""

    def named_parameters(self, m):
        return list(reversed(super().named_parameters(m)))


class ParametersFrozenByDefault(TorchBackend):
    """parameters of built-in layers and new parameters start with requires_grad False."""

    def _freeze(self, layer):
        for p in layer.parameters():
            p.requires_grad_(False)
        return layer

    def linear(self, n_in, n_out, *, device, bias=True):
        return self._freeze(super().linear(n_in, n_out, device=device, bias=bias))

    def conv2d(self, c_in, c_out, k, *, device):
        return self._freeze(super().conv2d(c_in, c_out, k, device=device))

    def parameter(self, t):
        return nn.Parameter(t.detach(), requires_grad=False)


class LinearIgnoresBias(TorchBackend):
    """Linear layers are built without a bias whatever bias= says."""

    def linear(self, n_in, n_out, *, device, bias=True):
        return super().linear(n_in, n_out, device=device, bias=False)


class _Flatten(nn.Module):
    def forward(self, x):
        return x.reshape(-1) if x.dim() == 3 else x.flatten(1)


class FlattenUnbatched(TorchBackend):
    """Flatten reads a 3-d input as one unbatched [C, H, W] image and flattens it to 1-d."""

    def flatten_layer(self):
        return _Flatten()


class MaxPoolCeil(TorchBackend):
    """max_pool2d rounds odd sizes up (ceil_mode): 13 pooled by 2 gives 7, not 6."""

    def max_pool2d(self, t, k):
        return F.max_pool2d(t, k, ceil_mode=True)


class _NamedParameter(nn.Parameter):
    @property
    def name(self):
        return self.__dict__.get("_given_name")


_NAME_COUNTER = itertools.count()  # a module global, not a class attribute: the faulty backends
# below override only methods, so they run only on the tests that call them (tests/method_use.py)


class ParametersCarryNames(TorchBackend):
    """parameters carry a generated name of their own (as PaddlePaddle's do: linear_0.w_0)."""

    def _named(self, data, name):
        p = _NamedParameter(data.detach(), requires_grad=data.requires_grad)
        p._given_name = name
        return p

    def _rename(self, layer, kind):
        index = next(_NAME_COUNTER)
        for attr, p in list(layer.named_parameters()):
            setattr(layer, attr, self._named(p, f"{kind}_{index}.{attr[0]}_0"))
        return layer

    def linear(self, n_in, n_out, *, device, bias=True):
        return self._rename(super().linear(n_in, n_out, device=device, bias=bias), "linear")

    def conv2d(self, c_in, c_out, k, *, device):
        return self._rename(super().conv2d(c_in, c_out, k, device=device), "conv2d")

    def parameter(self, t):
        p = self._named(t, f"param_{next(_NAME_COUNTER)}")
        p.requires_grad_(True)
        return p


CASES = [
    (StepRebindsStorage, {"optim.step-in-place"}),
    (OptimizerCopiesParams, {"optim.step-in-place", "optim.step-updates-model-weights"}),
    (MomentumIgnored, {"optim.sgd-momentum-rule", "training.dynamic-net-momentum"}),
    (SgdDefaultWeightDecay, {"optim.manual-update-equals-sgd", "optim.sgd-momentum-rule", "optim.sgd-update-rule",
        "optim.zero-grad-element-unchanged", "training.linreg-fits"}),
    (AdamNoBiasCorrection, {"optim.adam-update-rule"}),
    (PlainTensorsRegistered, {"modules.plain-tensor-not-registered"}),
    (NamedParametersReversed, {"modules.lenet-parameters", "modules.neuralnetwork-parameters", "modules.parameter-registered"
}),
    (ParametersFrozenByDefault, {"dynamic.unused-parameter-no-grad", "modules.custom-layer-forward-only",
        "modules.parameters-trainable"}),
    (LinearIgnoresBias, {"modules.lenet-parameters", "modules.lenet-printed-structure", "modules.linear-computes-affine",
        "modules.mynet-param-counts", "modules.neuralnetwork-parameters", "modules.two-layer-parameters"}),
    (FlattenUnbatched, {"modules.flatten-single-sample", "modules.mynet-output-shapes", "modules.summary-sizes"
}),
    (MaxPoolCeil, {"modules.lenet-shapes"}),
    (ParametersCarryNames, {"modules.parameter-is-tensor-with-no-name"}),
]


