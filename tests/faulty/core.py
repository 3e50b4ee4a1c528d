"""Faulty backends for the autograd core: the reference adapter with one behaviour broken.

Each class breaks one concept the way a buggy engine would, on every path that exposes it; CASES
lists the claims each targets (tests/test_faulty_backends.py; what else each breaks: side_effects.json)."""

import contextlib
import os

import torch

from autograd_conformance.backends.torch_backend import TorchBackend


def _leaves(out):
    """The leaf tensors a backward from out would write .grad to."""
    found, stack, seen = [], [out.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if hasattr(node, "variable"):
            found.append(node.variable)
        stack += [n for n, _ in node.next_functions]
    return found


class OverwritesGrad(TorchBackend):
    """backward overwrites .grad instead of accumulating into it."""

    def backward(self, out, cotangent=None, retain_graph=False):
        for leaf in _leaves(out):
            leaf.grad = None
        super().backward(out, cotangent, retain_graph)


class ZeroGradDoesNothing(TorchBackend):
    """optimizer.zero_grad(), module.zero_grad() and grad.zero_() leave gradients as they are."""

    def zero_grad(self, opt, set_to_none=None):
        pass

    def module_zero_grad(self, m, set_to_none=None):
        pass

    def zero_(self, t):
        if t.requires_grad or t.grad_fn is not None or not t.is_leaf:
            super().zero_(t)  # parameters are still writable; only gradient buffers are ignored


class NoGradStillTracks(TorchBackend):
    """no_grad() is a no-op: operations inside it are recorded."""

    def no_grad(self):
        return contextlib.nullcontext()


class NoGradNeverEnds(TorchBackend):
    """no_grad() turns tracking off and leaves it off when its block ends (normally or by an
    exception), until the next test seeds the engine."""

    def no_grad(self):
        @contextlib.contextmanager
        def off():
            torch.set_grad_enabled(False)
            yield

        return off()

    def seed(self, n):
        torch.set_grad_enabled(True)
        super().seed(n)


class DetachCopies(TorchBackend):
    """detach() returns an untracked copy that does not share storage."""

    def detach(self, t):
        return t.detach().clone()


class DetachKeepsTracking(TorchBackend):
    """detach() returns a tensor that is still part of the graph."""

    def detach(self, t):
        return t * 1


class DataCopies(TorchBackend):
    """.data returns a copy, so updates through it are lost."""

    def data(self, t):
        return t.detach().clone()


class GraphNeverFreed(TorchBackend):
    """backward keeps every graph, so a second backward silently succeeds."""

    def backward(self, out, cotangent=None, retain_graph=False):
        super().backward(out, cotangent, retain_graph=True)


class SeedIgnored(TorchBackend):
    """backward(v) and vjp(f, x, v) ignore the seed vector and use ones."""

    def backward(self, out, cotangent=None, retain_graph=False):
        super().backward(out, None if cotangent is None else torch.ones_like(cotangent), retain_graph)

    def vjp(self, fn, inputs, cotangent=None):
        return super().vjp(fn, inputs, None if cotangent is None else torch.ones_like(cotangent))


class CustomBackwardIgnored(TorchBackend):
    """custom functions are differentiated through their forward; the backward rule is unused."""

    def custom_function(self, forward, backward):
        return lambda *inputs: forward(*inputs)[0]


class OldNodeNames(TorchBackend):
    """graph nodes carry the names torch used before 1.10 (AddmmBackward, no version suffix)."""

    def node_name(self, node):
        return super().node_name(node).rstrip("0123456789")


class LeavesHaveNodes(TorchBackend):
    """a leaf reports a graph node of its own (its gradient accumulator)."""

    def grad_fn(self, t):
        if t.grad_fn is None and t.requires_grad:
            return t.view_as(t).grad_fn.next_functions[0][0]
        return t.grad_fn


class TracksByDefault(TorchBackend):
    """every new tensor requires grad, even when not asked to."""

    def tensor(self, data, *, device, dtype=None, requires_grad=False):
        t = super().tensor(data, device=device, dtype=dtype, requires_grad=False)
        return t.requires_grad_(t.is_floating_point())


class RequiresGradCopies(TorchBackend):
    """requires_grad_ returns a new tensor instead of changing the flag of the given one."""

    def set_requires_grad(self, t, flag):
        return t.detach().clone().requires_grad_(flag)


class FlagOffIgnored(TorchBackend):
    """requires_grad=False, asked for when a tensor is made or switched off later, is recorded and
    reported but not acted on: the tensor is still tracked and gets gradients."""

    def tensor(self, data, *, device, dtype=None, requires_grad=None):
        t = super().tensor(data, device=device, dtype=dtype, requires_grad=requires_grad)
        if requires_grad is False and t.is_floating_point():
            t.requires_grad_(True)._reported_off = True
        return t

    def set_requires_grad(self, t, flag):
        if flag:
            return super().set_requires_grad(t, flag)
        t._reported_off = True
        return t

    def requires_grad(self, t):
        return t.requires_grad and not getattr(t, "_reported_off", False)


class VjpStaleGradients(TorchBackend):
    """vjp caches its gradients by the differentiated function's code, as a compiled engine whose
    cache key leaves out the inputs' values would: a second call of the same function at new values
    returns the first call's gradients."""

    def vjp(self, fn, inputs, cotangent=None):
        out, grads = super().vjp(fn, inputs, cotangent)
        cache = self.__dict__.setdefault("_grads", {})
        test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]  # a cache per test: no
        key = (test, getattr(fn, "__code__", None), tuple(tuple(x.shape) for x in inputs))  # order matters
        return out, cache.setdefault(key, grads)


class MeanGradIsOne(TorchBackend):
    """mean() has the right value but the gradient of sum (1 instead of 1/n)."""

    def mean(self, t):
        return t.sum() - (t.sum() - t.mean()).detach()


class SumKeepsDim(TorchBackend):
    """sum() returns shape (1,) instead of a 0-dimensional tensor."""

    def sum(self, t):
        return t.sum().reshape(1)


class SavesCopies(TorchBackend):
    """the graph saves copies of the intermediates it needs instead of keeping them."""

    def __init__(self):
        hooks = torch.autograd.graph.saved_tensors_hooks(lambda t: t.clone(), lambda t: t)
        hooks.__enter__()  # for the lifetime of the process: every graph saves copies


CASES = [
    (NoGradNeverEnds, {"tracking.no-grad-ends-with-its-block"}),
    (OverwritesGrad, {"accumulation.multi-task-losses-sum", "accumulation.no-zero-grad-accumulates",
        "accumulation.retain-twice-equals-double", "accumulation.second-backward-adds",
        "retain.retain-graph-allows-second", "retain.second-backward-errors",
        "retain.second-backward-without-saved-tensors"}),
    (ZeroGradDoesNothing, {"accumulation.manual-zero-resets", "accumulation.no-step-same-grad",
        "accumulation.zero-grad-each-step-fresh", "accumulation.zero-grad-sets-none",
        "dynamic.graph-follows-control-flow", "manual.training-equals-autograd",
        "training.dynamic-net-momentum", "training.linreg-fits"}),
    (NoGradStillTracks, {"memory.no-grad-saves-nothing", "tracking.in-place-on-tracked-leaf-errors",
        "tracking.no-grad-untracked"}),
    (DetachCopies, {"tracking.detach-shares-storage"}),
    (DetachKeepsTracking, {"tracking.detach-shares-storage", "tracking.detach-untracked-equal"}),
    (DataCopies, {"optim.step-in-place", "tracking.data-shares-storage-untracked"}),
    (GraphNeverFreed, {"retain.doubling-graph-vjp-twice-errors", "retain.error-names-retain-graph",
        "retain.second-backward-errors"}),
    (SeedIgnored, {"backward.module-vjp-fills-param-grads", "backward.non-scalar-needs-seed",
        "backward.vjp-linear-in-seed", "backward.vjp-seed-vector"}),
    (CustomBackwardIgnored, {"custom.backward-rule-is-used", "custom.non-tensor-residuals-reach-backward"}),
    (OldNodeNames, {"graph.basic-node-names", "graph.layer-node-names", "graph.loss-node-names",
        "graph.next-functions-chain"}),
    (LeavesHaveNodes, {"graph.leaf-has-no-node"}),
    (TracksByDefault, {"graph.tracked-after-requires-grad", "graph.untracked-input-has-no-node",
        "tracking.default-untracked", "tracking.in-place-on-tracked-leaf-errors"}),
    (RequiresGradCopies, {"graph.tracked-after-requires-grad", "tracking.requires-grad-in-place"}),
    (FlagOffIgnored, {"graph.tracked-after-requires-grad", "graph.untracked-input-has-no-node",
        "tracking.frozen-parameter-no-grad", "tracking.in-place-on-tracked-leaf-errors"}),
    (VjpStaleGradients, {"backward.matches-finite-differences", "backward.vjp-linear-in-seed",
        "training.two-layer-functional"}),
    (MeanGradIsOne, {"~ops.sum-mean-match-numpy"}),
    (SumKeepsDim, {"backward.sum-is-zero-dim"}),
    (SavesCopies, {"memory.graph-holds-saved-tensors"}),
]


