"""Faulty backends for the autograd core: the reference adapter with one behaviour broken.

Each class breaks one concept the way a buggy engine would, on every path that exposes it; CASES
lists exactly the claims the suite must then report as failing (tests/test_faulty_backends.py)."""

import contextlib

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

    def backward(self, out, seed=None, retain_graph=False):
        for leaf in _leaves(out):
            leaf.grad = None
        super().backward(out, seed, retain_graph)


class ZeroGradDoesNothing(TorchBackend):
    """optimizer.zero_grad(), module.zero_grad() and grad.zero_() leave gradients as they are."""

    def zero_grad(self, opt, set_to_none=True):
        pass

    def module_zero_grad(self, m, set_to_none=True):
        pass

    def zero_(self, t):
        if t.requires_grad or t.grad_fn is not None or not t.is_leaf:
            super().zero_(t)  # parameters are still writable; only gradient buffers are ignored


class NoGradStillTracks(TorchBackend):
    """no_grad() is a no-op: operations inside it are recorded."""

    def no_grad(self):
        return contextlib.nullcontext()


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

    def backward(self, out, seed=None, retain_graph=False):
        super().backward(out, seed, retain_graph=True)


class SeedIgnored(TorchBackend):
    """backward(v) and vjp(f, x, v) ignore the seed vector and use ones."""

    def backward(self, out, seed=None, retain_graph=False):
        super().backward(out, None if seed is None else torch.ones_like(seed), retain_graph)

    def vjp(self, fn, inputs, seed=None):
        return super().vjp(fn, inputs, None if seed is None else torch.ones_like(seed))


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
    (OverwritesGrad, {"accumulation.multi-task-losses-sum", "accumulation.no-zero-grad-accumulates",
        "accumulation.retain-twice-equals-double", "accumulation.second-backward-adds",
        "retain.retain-graph-allows-second", "retain.second-backward-errors",
        "retain.second-backward-without-saved-tensors", "~determinism.manual-seed-1-golden"}),
    (ZeroGradDoesNothing, {"accumulation.manual-zero-resets", "accumulation.no-step-same-grad",
        "accumulation.zero-grad-each-step-fresh", "accumulation.zero-grad-sets-none",
        "dynamic.graph-follows-control-flow", "manual.training-equals-autograd",
        "training.dynamic-net-momentum", "training.linreg-fits", "~dynamic.shapes-change-between-iterations"}),
    (NoGradStillTracks, {"memory.no-grad-saves-nothing", "tracking.in-place-on-tracked-leaf-errors",
        "tracking.no-grad-untracked"}),
    (DetachCopies, {"tracking.detach-shares-storage"}),
    (DetachKeepsTracking, {"tracking.detach-untracked-equal", "tracking.detach-shares-storage"}),
    (DataCopies, {"tracking.data-shares-storage-untracked", "optim.manual-update-equals-sgd", "optim.step-in-place"}),
    (GraphNeverFreed, {"retain.second-backward-errors", "retain.error-names-retain-graph",
                       "retain.doubling-graph-vjp-twice-errors", "memory.graph-freed-after-backward"}),
    (SeedIgnored, {"backward.module-vjp-fills-param-grads", "backward.non-scalar-needs-seed",
        "backward.vjp-linear-in-seed", "backward.vjp-seed-vector", "custom.backward-rule-is-used",
        "dynamic.data-dependent-loop", "modules.custom-layer-forward-only", "ops.conv2d-matches-numpy",
        "ops.max-pool2d-matches-numpy", "ops.powers-match-numpy", "ops.relu-matches-numpy",
        "ops.transpose-matches-numpy", "~backward.full-jacobian", "~backward.lenet-grads",
        "~ops.matmul-matches-numpy"}),
    (CustomBackwardIgnored, {"custom.backward-rule-is-used", "custom.residuals-reach-backward"}),
    (OldNodeNames, {"graph.basic-node-names", "graph.layer-node-names", "graph.loss-node-names",
                    "graph.next-functions-chain"}),
    (LeavesHaveNodes, {"graph.leaf-has-no-node"}),
    (TracksByDefault, {"graph.tracked-after-requires-grad", "graph.untracked-input-has-no-node",
        "tracking.default-untracked", "tracking.in-place-on-tracked-leaf-errors",
        "~modules.parameters-trainable"}),
    (RequiresGradCopies, {"tracking.requires-grad-in-place", "graph.tracked-after-requires-grad",
                          "tracking.frozen-parameter-no-grad"}),
    (MeanGradIsOne, {"accumulation.second-backward-adds", "backward.matches-finite-differences",
        "backward.mean-of-3-squares", "graph.basic-node-names", "~ops.sum-mean-match-numpy"}),
    (SumKeepsDim, {"backward.scalar-default-seed", "backward.sum-is-zero-dim", "graph.basic-node-names",
        "manual.numpy-equals-autograd", "manual.tensor-backprop-equals-numpy", "~ops.sum-mean-match-numpy"}),
    (SavesCopies, {"memory.graph-holds-saved-tensors"}),
]
