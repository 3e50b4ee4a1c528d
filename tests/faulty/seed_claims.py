"""Faulty backends for claims the seeds show or state in detail: a graph never backpropagated, SGD
over several steps of the seeds' own training, linear regression's dynamics, the index of each
parameter, the update as 004 writes it, no_grad across a model's layers, the printed form, the
pooling window given as a pair, LeNet's 28x28 input, autograd.grad freeing the graph, item(),
objects saved for backward, hook order. Each breaks one of them, as an engine could, in a way a
check of the claim on part of what the seeds show would let through.

CASES lists the claims each targets (tests/test_faulty_backends.py)."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autograd_conformance.contracts import _weak_watch
from autograd_conformance.backends.torch_backend import TorchBackend
from tests.faulty.generated import _ProcessMode

# ---------------------------------------------------------------- memory: graphs never backpropagated


class _Tape(_ProcessMode):
    """Every tracked result joins a global tape, which a backward empties."""

    kept: list = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if getattr(func, "__name__", "") == "backward":
            _Tape.kept.clear()
        elif isinstance(out, torch.Tensor) and out.requires_grad and out.grad_fn is not None:
            _Tape.kept.append(out)
        return out


class _KeptForever(_Tape):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor) and out.requires_grad and out.grad_fn is not None:
            _Tape.kept.append(out)
        return out


def _taped_watch(mode, t):
    """The tape from the first B.watch on, holding the watched result too (as it would have from the
    start): only the memory tests watch a tensor, so only they run on these backends."""
    mode.install()
    if t.requires_grad and t.grad_fn is not None:
        _Tape.kept.append(t)
    return _weak_watch(t)  # the suite's default: a weak reference


class GraphsKeptUntilBackward(TorchBackend):
    """Keeps every graph on a global tape until a backward runs: a forward whose output is dropped
    without backward (an evaluation) is never released."""

    def watch(self, t):
        return _taped_watch(_Tape, t)


class GraphsNeverReleased(TorchBackend):
    """Keeps every graph on a global tape for the whole run, backpropagated or not."""

    def watch(self, t):
        return _taped_watch(_KeptForever, t)


class NoGradMatmulSavesInputs(TorchBackend):
    """Under no_grad matmul still saves its inputs for a backward that will never come (elementwise
    operations save nothing, as they should)."""

    kept: list = []

    def matmul(self, a, b):
        if not torch.is_grad_enabled():
            NoGradMatmulSavesInputs.kept.append((a, b))
        return a @ b


# ---------------------------------------------------------------- SGD and linear regression


class _MatrixMomentumSgd(torch.optim.SGD):
    """Plain SGD on vectors; matrices keep a hidden momentum buffer (0.5)."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.dim() < 2:
                    p.sub_(p.grad, alpha=group["lr"])
                    continue
                state = self.state[p]
                buffer = state.get("hidden")
                buffer = p.grad.clone() if buffer is None else buffer.mul_(0.5).add_(p.grad)
                state["hidden"] = buffer
                p.sub_(buffer, alpha=group["lr"])


class SgdMatrixMomentum(TorchBackend):
    """Plain SGD keeps a hidden momentum buffer for parameters with two or more dimensions: the first
    step is right, the later ones are not."""

    def sgd(self, params, lr, momentum=0.0):
        if momentum:
            return super().sgd(params, lr, momentum)
        return _MatrixMomentumSgd(list(params), lr=lr)


class SgdLearningRateScaled(TorchBackend):
    """SGD steps with 1.2 times the learning rate it was given: training still converges, along
    another path."""

    def sgd(self, params, lr, momentum=0.0):
        return super().sgd(params, 1.2 * lr, momentum)


class _BiasFirstLinear(nn.Linear):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.bias is not None:
            self._parameters = {"bias": self._parameters["bias"], "weight": self._parameters["weight"]}


class LinearBiasFirst(TorchBackend):
    """nn.Linear registers its bias before its weight, so parameters() gives each layer's bias
    first."""

    def linear(self, n_in, n_out, *, device, bias=True):
        return _BiasFirstLinear(n_in, n_out, bias=bias).to(device)


# ---------------------------------------------------------------- the update as 004 writes it


class CloneShares(TorchBackend):
    """clone() returns a view of the same storage: a mask assignment to the clone changes the
    original."""

    def clone(self, t):
        return t.view_as(t)


class _RebindingTensor(torch.Tensor):
    def __isub__(self, other):
        return self - other  # a new tensor: the name is rebound, the tensor itself stays


class OperatorUpdateRebinds(TorchBackend):
    """A parameter's -= makes a new tensor instead of changing the parameter: in 004 § 5's loop the
    loop variable is rebound and the model never sees the update."""

    def parameter(self, t):
        p = super().parameter(t)
        p.__class__ = type("RebindingParameter", (type(p), _RebindingTensor), {})
        return p


# ---------------------------------------------------------------- the new claims


class _QuietTensor(torch.Tensor):
    def __repr__(self, *, tensor_contents=None):
        return repr(self.detach().as_subclass(torch.Tensor))


class PrintedFormHidesTracking(TorchBackend):
    """A tensor prints its values only, never requires_grad=True or its grad_fn."""

    def tensor(self, data, *, device, dtype=None, requires_grad=None):
        t = super().tensor(data, device=device, dtype=dtype, requires_grad=False).as_subclass(_QuietTensor)
        return t.requires_grad_(bool(requires_grad))


class MaxPoolPairStrideOne(TorchBackend):
    """max_pool2d with the window given as a pair slides it by 1 (a stride that defaults to 1, not to
    the window)."""

    def max_pool2d(self, t, k):
        return F.max_pool2d(t, k, stride=1) if isinstance(k, tuple) else F.max_pool2d(t, k)


class _LenientLinear(nn.Linear):
    def forward(self, x):
        n = x.shape[-1]
        if n > self.in_features:
            x = x[..., :self.in_features]
        elif n < self.in_features:
            x = F.pad(x, (0, self.in_features - n))
        return super().forward(x)


class LinearFitsAnyWidth(TorchBackend):
    """A Linear layer given the wrong number of features truncates or zero-pads its input instead of
    raising."""

    def linear(self, n_in, n_out, *, device, bias=True):
        return _LenientLinear(n_in, n_out, bias=bias).to(device)


class FunctionalGradKeepsGraph(TorchBackend):
    """autograd.grad never frees the graph (as if retain_graph were always True)."""

    def record(self, fn, inputs, retain_graph=False):
        return super().record(fn, inputs, retain_graph=True)


class ItemGivesNumpyFloat32(TorchBackend):
    """item() gives a numpy float32 scalar, not a Python number."""

    def item(self, t):
        return np.float32(t.item())


class NonTensorResidualsAsHalfTensors(TorchBackend):
    """A Python number that forward saves reaches backward as a float16 tensor."""

    def custom_function(self, forward, backward):
        def forward_saving_tensors(*inputs):
            out, residuals = forward(*inputs)
            return out, tuple(r if isinstance(r, torch.Tensor) else torch.tensor(r, dtype=torch.float16)
                              for r in residuals)

        return super().custom_function(forward_saving_tensors, backward)


class HooksFireInAssignmentOrder(TorchBackend):
    """A custom module runs its sub-modules' forward hooks after its forward, in the order the
    sub-modules were assigned, not as each is called."""

    def module(self, forward, **attributes):
        m = super().module(forward, **attributes)
        run = type(m).forward

        def forward_then_hooks(self, *inputs):
            children = list(self.named_children())
            hooks = {name: dict(child._forward_hooks) for name, child in children}
            seen = {}
            for name, child in children:
                child._forward_hooks.clear()
                child.register_forward_hook(lambda mod, args, out, name=name: seen.update({name: (args, out)}))
            try:
                out = run(self, *inputs)
            finally:
                for name, child in children:
                    child._forward_hooks.clear()
                    child._forward_hooks.update(hooks[name])
            for name, child in children:
                if name in seen:
                    for hook in hooks[name].values():
                        hook(child, *seen[name])
            return out

        m.__class__ = type("AssignmentOrderHooks", (type(m),), {"forward": forward_then_hooks})
        return m


CASES = [
    (GraphsKeptUntilBackward, {"~memory.graph-freed-after-backward"}),
    (GraphsNeverReleased, {"memory.graph-freed-after-backward"}),
    (NoGradMatmulSavesInputs, {"~memory.no-grad-saves-nothing"}),
    (SgdMatrixMomentum, {"training.linreg-fits"}),
    (SgdLearningRateScaled, {"optim.manual-update-equals-sgd", "optim.sgd-momentum-rule", "optim.sgd-update-rule",
        "training.dynamic-net-momentum", "training.linreg-fits"}),
    (LinearBiasFirst, {"modules.lenet-parameters", "modules.lenet-printed-structure", "modules.neuralnetwork-parameters"
}),
    (CloneShares, {"~manual.tensor-backprop-equals-numpy"}),
    (OperatorUpdateRebinds, {"~optim.manual-update-equals-sgd"}),
    (PrintedFormHidesTracking, {"tracking.printed-form-shows-tracking"}),
    (MaxPoolPairStrideOne, {"ops.max-pool2d-window-pair"}),
    (LinearFitsAnyWidth, {"modules.lenet-printed-structure", "modules.lenet-rejects-28x28"}),
    (FunctionalGradKeepsGraph, {"retain.functional-grad-frees-graph"}),
    (ItemGivesNumpyFloat32, {"ops.item-python-number"}),
    (NonTensorResidualsAsHalfTensors, {"custom.non-tensor-residuals-reach-backward"}),
    (HooksFireInAssignmentOrder, {"modules.hooks-fire-in-call-order"}),
]


