"""Faulty backends that compute wrong values or shapes: losses, activations, operators, graph walks.

Operators (``@``, ``**``) belong to the engine's tensor type, so the faults in them come from a
tensor subclass that the faulty backend hands out instead of torch.Tensor."""

import torch
import torch.nn.functional as F

from autograd_conformance.backends.torch_backend import TorchBackend


class BceSums(TorchBackend):
    """binary_cross_entropy_with_logits sums over elements instead of averaging."""

    def bce_with_logits(self, z, y):
        return F.binary_cross_entropy_with_logits(z, y, reduction="sum")


class CrossEntropySums(TorchBackend):
    """cross_entropy sums over the batch instead of averaging."""

    def cross_entropy(self, logits, labels):
        return F.cross_entropy(logits, labels, reduction="sum")


class MseHalfGradient(TorchBackend):
    """mse_loss has the right value but the gradient (out - t) instead of 2 (out - t)."""

    def mse_loss(self, pred, target, reduction="mean"):
        d = (pred - target).abs()
        squared = d * d.detach()
        return squared.mean() if reduction == "mean" else squared.sum()


def _leaky(t):
    return torch.relu(t) + 0.01 * (torch.clamp(t, max=0) - torch.clamp(t, max=0).detach())


class _LeakyReLU(torch.nn.Module):
    def forward(self, t):
        return _leaky(t)


class LeakyRelu(TorchBackend):
    """relu (and the ReLU layer) has the right values but lets 1% of the gradient through where the
    input is negative."""

    def relu(self, t):
        return _leaky(t)

    def relu_layer(self):
        return _LeakyReLU()


class OutputKeepsGrad(TorchBackend):
    """backward also stores a gradient on the output tensor itself."""

    def backward(self, out, cotangent=None, retain_graph=False):
        out.retain_grad()
        super().backward(out, cotangent, retain_graph)


class NodesWithoutInputs(TorchBackend):
    """graph nodes do not lead back to the nodes that feed them."""

    def node_inputs(self, node):
        return []


class _RoundedToBfloat16(torch.overrides.TorchFunctionMode):
    """Every float32 result computed inside it, rounded to bfloat16's precision."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor) and out.dtype == torch.float32:
            return out.to(torch.bfloat16).to(torch.float32)
        return out


class NoGradLowersPrecision(TorchBackend):
    """no_grad also computes in bfloat16's precision, so untracked results differ."""

    def no_grad(self):
        class Both:
            def __enter__(s):
                s.contexts = [torch.no_grad(), _RoundedToBfloat16()]
                for c in s.contexts:
                    c.__enter__()

            def __exit__(s, *exc):
                for c in reversed(s.contexts):
                    c.__exit__(*exc)
                return False

        return Both()


class OnlyLeavesReportTracking(TorchBackend):
    """requires_grad is reported True only for leaves, not for results of tracked operations."""

    def requires_grad(self, t):
        return t.requires_grad and t.is_leaf


class VjpSignFlipped(TorchBackend):
    """the functional vjp returns the negated gradients."""

    def vjp(self, fn, inputs, cotangent=None):
        out, grads = super().vjp(fn, inputs, cotangent)
        return out, tuple(-g for g in grads)


class _FaultyTensor(torch.Tensor):
    """Set fault = "pow" / "matmul-row" / "reuse" on a subclass to break that operator."""

    fault = ""

    def __pow__(self, exponent):
        if self.fault == "pow" and exponent in (2, 3):  # right value, gradient x^(e-1) instead of e x^(e-1)
            return self.detach() ** (exponent - 1) * self
        return super().__pow__(exponent)

    def __matmul__(self, other):
        if self.fault == "matmul-row" and self.dim() == 1:  # a vector stays a 1 x n row
            return super().__matmul__(other).unsqueeze(0)
        return super().__matmul__(self._first_use_only(other))

    def _first_use_only(self, other):
        """With the fault "reuse": a leaf weight after its first use in a product gets no gradient."""
        if self.fault == "reuse" and isinstance(other, torch.Tensor) and other.is_leaf and other.requires_grad:
            uses = getattr(other, "_uses", 0)
            other._uses = uses + 1
            if uses:
                return other.detach()
        return other

    def __mul__(self, other):
        if self.fault == "self-mul" and other is self:  # t * t: the gradient of one factor only
            return super().__mul__(other.detach())
        if self.fault == "float-mul" and isinstance(other, (int, float)) and not isinstance(other, bool):
            value = super().__mul__(other)
            return value.detach() + (self - self.detach())
        return super().__mul__(self._first_use_only(self._row_mean(other)))

    def _row_mean(self, other):
        """With the fault "row-mean": a row broadcast over a matrix gets the mean of the rows'
        gradients instead of their sum."""
        if self.fault == "row-mean" and isinstance(other, torch.Tensor) and 0 < other.dim() < self.dim():
            n = self.numel() // other.numel()
            return other / n + (other - other / n).detach()
        return other

    def __sub__(self, other):
        return super().__sub__(self._row_mean(other))

    def __add__(self, other):
        other = self._row_mean(other)
        if self.fault == "add-second" and isinstance(other, torch.Tensor):  # b in a + b: half its gradient
            return super().__add__(other * 0.5 + (other * 0.5).detach())
        if self.fault == "row-first" and isinstance(other, torch.Tensor) and 0 < other.dim() < self.dim():
            # a row added to every row of a matrix gets the first row's gradient, not their sum
            first = torch.zeros(self.shape[0], 1, dtype=self.dtype, device=self.device)
            first[0] = 1
            return super().__add__(other.detach()) + first * (other - other.detach())
        return super().__add__(other)

    def __truediv__(self, other):
        if self.fault == "div" and isinstance(other, torch.Tensor):  # the denominator as a constant
            return super().__truediv__(other.detach())
        return super().__truediv__(self._row_mean(other))


def _subclass_backend(fault):
    cls = type(f"_{fault}Tensor", (_FaultyTensor,), {"fault": fault})

    class Backend(TorchBackend):
        def tensor(self, data, *, device, dtype=None, requires_grad=None):
            t = super().tensor(data, device=device, dtype=dtype, requires_grad=False).as_subclass(cls)
            return t.requires_grad_(bool(requires_grad))

    return Backend


PowGradHalved = type("PowGradHalved", (_subclass_backend("pow"),),
                     {"__doc__": "x ** 2 and x ** 3 have the right values but the gradients x and x^2 "
                                 "instead of 2x and 3x^2."})
VectorMatmulKeepsRow = type("VectorMatmulKeepsRow", (_subclass_backend("matmul-row"),),
                            {"__doc__": "a vector @ matrix gives a 1 x n matrix instead of a vector."})
ReusedWeightGradOnce = type("ReusedWeightGradOnce", (_subclass_backend("reuse"),),
                            {"__doc__": "a weight used in several products (matmul or *) gets the gradient of "
                                        "its first use only."})
SelfProductOnce = type("SelfProductOnce", (_subclass_backend("self-mul"),),
                       {"__doc__": "t * t has the right value but the gradient t (one factor's) instead of 2t."})
FloatFactorGradDropped = type("FloatFactorGradDropped", (_subclass_backend("float-mul"),),
                              {"__doc__": "t * c (c a Python float) has the right value but passes the gradient "
                                          "on unscaled, as if c were 1."})
AddendGradHalved = type("AddendGradHalved", (_subclass_backend("add-second"),),
                        {"__doc__": "a + b (both tensors) has the right value but gives b half its gradient."})
RowBroadcastGradMean = type("RowBroadcastGradMean", (_subclass_backend("row-mean"),),
                            {"__doc__": "a matrix + - * / a row has the right value, but the row gets the mean "
                                        "of the rows' gradients instead of their sum."})
DivisorConstant = type("DivisorConstant", (_subclass_backend("div"),),
                       {"__doc__": "a / b has the right value but gives the divisor b no gradient."})

CASES = [
    (RowBroadcastGradMean, {"ops.broadcast-matches-numpy"}),
    (BceSums, {"~backward.bce-rows-equal-bias-grad", "~ops.losses-match-numpy"}),
    (CrossEntropySums, {"backward.cross-entropy"}),
    (MseHalfGradient, {"backward.mse-loss"}),
    (LeakyRelu, {"backward.relu-dead-units-zero-grad", "custom.myrelu-equals-relu",
        "custom.training-matches-builtin", "manual.numpy-equals-autograd",
        "manual.training-equals-autograd", "ops.relu-matches-numpy"}),
    (VjpSignFlipped, {"backward.cross-entropy", "backward.mse-loss", "ops.losses-match-numpy", "ops.matmul-matches-numpy",
        "ops.sum-mean-match-numpy"}),
    (OutputKeepsGrad, {"backward.only-leaves-get-grad"}),
    (NodesWithoutInputs, {"graph.next-functions-chain", "graph.result-has-node"}),
    (NoGradLowersPrecision, {"tracking.no-grad-same-values"}),
    (OnlyLeavesReportTracking, {"tracking.result-of-tracked-is-tracked"}),
    (PowGradHalved, {"backward.chain-rule-40", "ops.powers-match-numpy"}),
    (VectorMatmulKeepsRow, {"backward.matmul-vector-shape"}),
    (SelfProductOnce, {"backward.matches-finite-differences", "backward.mean-of-3-squares", "backward.scalar-default-seed"
}),
    (FloatFactorGradDropped, {"backward.matches-finite-differences", "dynamic.data-dependent-loop"}),
    (AddendGradHalved, {"backward.bce-rows-equal-bias-grad", "backward.matches-finite-differences"}),
    (DivisorConstant, {"backward.matches-finite-differences"}),
    (ReusedWeightGradOnce, {"dynamic.weight-sharing-sums-grads"}),
]


