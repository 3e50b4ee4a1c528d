"""Faulty backends for the seeds' operations against numpy, LeNet's
gradients, devices, the default of zero_grad, in-place changes of tracked leaves, changing shapes.

Each class is the reference adapter with one behaviour broken the way a buggy engine (or a port of
the seeds to one) would break it; CASES lists the claims each targets
(tests/test_faulty_backends.py), "~claim" where only some of a claim's tests see it."""

import torch
import torch.nn.functional as F
from torch import nn

from autograd_conformance.backends.torch_backend import TorchBackend


def _scaled_grad(t, factor):
    """t's value with factor times its gradient."""
    return t * factor - (t * (factor - 1)).detach()


# ---------------------------------------------------------------------------- operations

class MatmulFirstOperandGradScaled(TorchBackend):
    """matmul has the right value but gives its first operand 1.5 times its gradient."""

    def matmul(self, a, b):
        return _scaled_grad(a, 1.5) @ b


def _column_major(t, shape):
    """t reshaped to shape filling in column-major (Fortran) order, numpy's order="F"."""
    return t.permute(*reversed(range(t.dim()))).reshape(tuple(reversed(shape))).permute(
        *reversed(range(len(shape))))


class _FlattenTransposed(torch.nn.Flatten):
    def forward(self, x):
        return super().forward(x.transpose(-1, -2))


class ReshapeColumnMajor(TorchBackend):
    """reshape and Flatten give the right shape with the elements in column-major order (numpy's
    order="F"), an engine whose memory layout is Fortran's."""

    def reshape(self, t, shape):
        return _column_major(t, tuple(shape))

    def flatten_layer(self):
        return _FlattenTransposed()


class ConvScalesOutput(TorchBackend):
    """the convolution (functional and layer) multiplies its output by 1.1."""

    def convolve2d(self, x, weight, bias):
        return F.conv2d(x, weight, bias) * 1.1

    def conv2d(self, c_in, c_out, k, *, device):
        layer = super().conv2d(c_in, c_out, k, device=device)
        layer.register_forward_hook(lambda module, args, out: out * 1.1)
        return layer


class Conv2d(nn.Conv2d):  # named as torch's, so that it prints as one
    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias.detach())


class ConvBiasNoGrad(TorchBackend):
    """the convolution's bias takes part in the forward but gets no gradient (it is detached)."""

    def convolve2d(self, x, weight, bias):
        return F.conv2d(x, weight, bias.detach())

    def conv2d(self, c_in, c_out, k, *, device):
        return Conv2d(c_in, c_out, k, device=device)


class MaxPoolAverages(TorchBackend):
    """max_pool2d averages each window instead of taking its maximum."""

    def max_pool2d(self, t, k):
        return F.avg_pool2d(t, k)


class MaxPoolCutsHistory(TorchBackend):
    """max_pool2d sends its gradient to its input, but no further: the input's own history (the conv
    layer before it, and its parameters) gets none, as if the pooled input were a new leaf."""

    def max_pool2d(self, t, k):
        if t.grad_fn is None:
            return F.max_pool2d(t, k)
        leaf = t.detach().requires_grad_(t.requires_grad)
        return F.max_pool2d(leaf, k)


def _leaf_depths(out) -> list[tuple]:
    """(leaf, the fewest graph nodes between out and it) for each leaf out's graph reaches."""
    depths, queue, seen = {}, [(out.grad_fn, 1)], set()
    while queue:
        node, depth = queue.pop(0)
        if node is None or node in seen:
            continue
        seen.add(node)
        if hasattr(node, "variable"):  # AccumulateGrad: a leaf
            depths.setdefault(id(node.variable), (node.variable, depth))
        queue.extend((n, depth + 1) for n, _ in node.next_functions)
    return list(depths.values())


class BackwardStopsDeep(TorchBackend):
    """backward reaches only the leaves within 12 graph nodes of the output: deeper ones (the first
    layers of a deep net) keep the gradient they had, as an engine whose backward has a depth limit."""

    def backward(self, out, cotangent=None, retain_graph=False):
        deep = [leaf for leaf, depth in _leaf_depths(out) if depth > 12]
        before = [None if leaf.grad is None else leaf.grad.clone() for leaf in deep]
        super().backward(out, cotangent, retain_graph)
        for leaf, grad in zip(deep, before):
            leaf.grad = grad


class WhereGradToBoth(TorchBackend):
    """where(c, a, b) has the right value but sends the gradient to both branches."""

    def where(self, cond, a, b):
        value = torch.where(cond, a, b)
        both = a + b if isinstance(b, torch.Tensor) else a
        return value.detach() + both - both.detach()


class ReductionGradsDoubled(TorchBackend):
    """sum and mean have the right values but twice the gradient."""

    def sum(self, t):
        return _scaled_grad(t.sum(), 2.0)

    def mean(self, t):
        return _scaled_grad(t.mean(), 2.0)


class TransposeReshapes(TorchBackend):
    """transpose reshapes the tensor to the swapped shape instead of transposing it."""

    def transpose(self, t):
        return t.reshape(t.shape[::-1])


class LossGradsHalved(TorchBackend):
    """the losses (MSE, cross-entropy, BCE with logits) have the right values but half the gradient."""

    def mse_loss(self, pred, target, reduction="mean"):
        return _scaled_grad(F.mse_loss(pred, target, reduction=reduction), 0.5)

    def cross_entropy(self, logits, labels):
        return _scaled_grad(F.cross_entropy(logits, labels), 0.5)

    def bce_with_logits(self, z, y):
        return _scaled_grad(F.binary_cross_entropy_with_logits(z, y), 0.5)


class JacobianFromSum(TorchBackend):
    """the Jacobian function returns the gradient of sum(f) in every row instead of the Jacobian."""

    def jacobian(self, fn, x):
        x = x.detach().requires_grad_(True)
        out = fn(x)
        (g,) = torch.autograd.grad(out.sum(), x)
        return g.expand(*out.shape, *x.shape).clone()


# ---------------------------------------------------------------------------- backward and tracking

class ImplicitOnesSeed(TorchBackend):
    """backward() without a seed on a vector output quietly uses a seed of ones (backward of the sum)."""

    def backward(self, out, cotangent=None, retain_graph=False):
        if cotangent is None and out.numel() > 1:
            cotangent = torch.ones_like(out)
        super().backward(out, cotangent, retain_graph)


class ZeroGradDefaultZeroes(TorchBackend):
    """zero_grad() without arguments fills gradients with zeros (torch before 2.0)."""

    def zero_grad(self, opt, set_to_none=None):
        super().zero_grad(opt, False if set_to_none is None else set_to_none)

    def module_zero_grad(self, m, set_to_none=None):
        super().module_zero_grad(m, False if set_to_none is None else set_to_none)


class InPlaceOnLeafAllowed(TorchBackend):
    """an in-place change of a leaf that requires grad is allowed outside no_grad (and not recorded)."""

    def sub_recorded(self, t, delta):
        if t.is_leaf and t.requires_grad:
            with torch.no_grad():
                t.sub_(delta)
        else:
            t.sub_(delta)


class NodeInputsSkipOne(TorchBackend):
    """a node's inputs are reported one hop too far: the inputs of its inputs."""

    def node_inputs(self, node):
        return [m for n in super().node_inputs(node) for m in super().node_inputs(n)]


class VariableIsParameter(TorchBackend):
    """the legacy Variable wrapper returns a trainable Parameter instead of a plain tensor."""

    def variable(self, t):
        return nn.Parameter(t.detach())


class ConvPaddingValid(TorchBackend):
    """conv layers are built with padding='valid' spelled out: the same numbers, printed differently."""

    def conv2d(self, c_in, c_out, k, *, device):
        return nn.Conv2d(c_in, c_out, k, padding="valid", device=device)


class Linear(nn.Linear):  # named as torch's, so that it prints as one
    """Computes with a private copy of its bias, made at construction: the registered bias takes
    no part in the graph (the AccumulateGrad behind addmm is the copy's) and never gets a gradient."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.__dict__["shadow_bias"] = None if self.bias is None else self.bias.detach().clone().requires_grad_(True)

    def forward(self, x):
        return F.linear(x, self.weight, self.__dict__["shadow_bias"])


class LinearBiasShadowed(TorchBackend):
    """Linear layers compute with a private copy of their bias instead of the registered one."""

    def linear(self, n_in, n_out, *, device, bias=True):
        return Linear(n_in, n_out, bias=bias, device=device)


class NamedParametersEmpty(TorchBackend):
    """named_parameters lists nothing (a module keeps its parameters where the listing does not
    look): every loop over a model's parameters must notice that it ran over nothing."""

    def named_parameters(self, m):
        return []


# ---------------------------------------------------------------------------- devices and shapes

class DeviceMovesLoseValues(TorchBackend):
    """moving a tensor to a device rounds it through bfloat16; moving a model re-initialises it."""

    def to_device(self, t, device):
        return t.to(torch.bfloat16).to(t.dtype).to(device)

    def module_to(self, m, device):
        for layer in m.modules():
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()
        return m.to(device)


class ShapeSpecialised(TorchBackend):
    """the engine specialises on the shapes of its first call, as a tracing engine that does not
    retrace would, and refuses others: a Linear layer on its first batch size, a differentiated
    function (by its code) on the shapes of the tensors it captured the first time."""

    def vjp(self, fn, inputs, cotangent=None):
        captured = tuple(tuple(c.cell_contents.shape) for c in (getattr(fn, "__closure__", None) or ())
                         if isinstance(getattr(c, "cell_contents", None), torch.Tensor))
        traced = self.__dict__.setdefault("_traced", {})  # set here, not in __init__: only methods
        first = traced.setdefault(getattr(fn, "__code__", None), captured)  # change (method_use.py)
        if captured != first:
            raise RuntimeError(f"traced with captured shapes {first}, called with {captured}")
        return super().vjp(fn, inputs, cotangent)

    def linear(self, n_in, n_out, *, device, bias=True):
        layer = super().linear(n_in, n_out, device=device, bias=bias)

        def check(module, args):
            first = module.__dict__.setdefault("_traced_batch", args[0].shape[0])
            if args[0].shape[0] != first:
                raise RuntimeError(f"traced for batch size {first}, got {args[0].shape[0]}")

        layer.register_forward_pre_hook(check)
        return layer


CASES = [
    (MatmulFirstOperandGradScaled, {"ops.matmul-matches-numpy"}),
    (ConvScalesOutput, {"ops.conv2d-matches-numpy"}),
    (ConvBiasNoGrad, {"ops.conv2d-matches-numpy"}),
    (BackwardStopsDeep, {"backward.lenet-grads"}),
    (MaxPoolCutsHistory, {"~ops.max-pool2d-matches-numpy"}),
    (WhereGradToBoth, {"ops.where-matches-numpy"}),
    (MaxPoolAverages, {"ops.max-pool2d-matches-numpy", "ops.max-pool2d-window-pair"}),
    (ReductionGradsDoubled, {"backward.sum-is-zero-dim", "ops.sum-mean-match-numpy"}),
    (TransposeReshapes, {"manual.tensor-backprop-equals-numpy", "ops.transpose-matches-numpy"}),
    (LossGradsHalved, {"backward.cross-entropy", "backward.mse-loss", "ops.losses-match-numpy"}),
    (JacobianFromSum, {"backward.full-jacobian"}),
    (ImplicitOnesSeed, {"backward.non-scalar-needs-seed"}),
    (ZeroGradDefaultZeroes, {"accumulation.zero-grad-sets-none"}),
    (InPlaceOnLeafAllowed, {"tracking.in-place-on-tracked-leaf-errors"}),
    (NodeInputsSkipOne, {"graph.next-functions-chain", "graph.result-has-node"}),
    (VariableIsParameter, {"tracking.variable-returns-tensor"}),
    (ConvPaddingValid, {"modules.lenet-printed-structure"}),
    (DeviceMovesLoseValues, {"devices.round-trip-keeps-values"}),
    (LinearBiasShadowed, {"modules.linear-computes-affine"}),
    (NamedParametersEmpty, {"modules.parameter-registered"}),
    (ShapeSpecialised, {"dynamic.shapes-change-between-iterations"}),
    (ReshapeColumnMajor, {"ops.reshape-matches-numpy"}),
]


