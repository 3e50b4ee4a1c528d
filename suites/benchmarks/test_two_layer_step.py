"""One training step of the seeds' two-layer ReLU net (004 §§ 1-7; N=64, D_in=1000, H=100, D_out=10),
written each way the seed writes it.

Manual backprop through backend tensors (004 § 2) is not here: it needs a transpose (h_relu.T,
w2.T, x.T), which the Backend protocol does not have; the manual variant runs in numpy (004 § 1)
and is measured once per run, on the backend's first (host) device.
"""

import numpy as np
import pytest

from autograd_conformance.benchmarks.workloads import describe, mlp_step_flops
from autograd_conformance.models import D_IN, D_OUT, H, N, two_layer_arrays, two_layer_sequential
from autograd_conformance.references import numpy_two_layer_grads
from autograd_conformance.protocol import Capability

FLOPS = mlp_step_flops(N, (D_IN, H, D_OUT))  # 4*N*D_in*H + 6*N*H*D_out = 25.98 MFLOP
LR_MANUAL = 1e-6  # 004 §§ 1-4
LR_NN = 1e-4  # 004 §§ 5-6

pytestmark = pytest.mark.benchmark(group="two_layer_step")


def _tensors(B, device):
    x0, y0, w1_0, w2_0 = two_layer_arrays(np.random.default_rng(0), np.float64)
    return (B.tensor(x0, device=device, requires_grad=False),
            B.tensor(y0, device=device, requires_grad=False),
            B.tensor(w1_0, device=device, requires_grad=True),
            B.tensor(w2_0, device=device, requires_grad=True))


def _constants(B, device, *arrays):
    """Untracked tensors (asked for explicitly: an engine's default may be tracked)."""
    return tuple(B.tensor(a, device=device, requires_grad=False) for a in arrays)


def _run(benchmark, step):
    step()  # warm-up outside the measurement (first-call allocations, lazy initialisation)
    loss = benchmark(step)
    assert np.isfinite(loss).all(), f"the training step produced a non-finite loss {loss}"


def test_manual_numpy(B, device, benchmark):
    """004 § 1: forward and hand-written backward in numpy, in the backend's default float."""
    if device != B.available_devices()[0]:
        pytest.skip("numpy runs on the host: measured once, on the backend's first device")
    x, y, w1, w2 = two_layer_arrays(np.random.default_rng(0), np.dtype(B.default_float))

    def step():
        loss, grad_w1, grad_w2 = numpy_two_layer_grads(x, y, w1, w2)  # the same code manual.* checks
        w1[...] -= LR_MANUAL * grad_w1  # in place, as the seed's w1 -= ...
        w2[...] -= LR_MANUAL * grad_w2
        return loss

    describe(benchmark, B, device, "two_layer_step.manual_numpy", flops=FLOPS, engine="numpy",
             numpy_version=np.__version__, compare_to="two_layer_step.autograd_manual_update",
             comparison="manual numpy backprop / autograd (004 § 1 vs § 3)")
    _run(benchmark, step)


def test_vjp_functional(B, device, benchmark):
    """The gradient through the functional vjp (every engine has it), weights replaced, not mutated."""
    x0, y0, w1_0, w2_0 = two_layer_arrays(np.random.default_rng(0), np.float64)
    x, y = _constants(B, device, x0, y0)
    # plain (untracked) tensors: vjp differentiates with respect to them without any flag, and the
    # update w - lr * g builds no graph
    weights = list(_constants(B, device, w1_0, w2_0))

    def loss_fn(a, b):
        return B.sum((B.relu(x @ a) @ b - y) ** 2)

    def step():
        loss, (g1, g2) = B.vjp(loss_fn, weights)
        weights[0] = weights[0] - g1 * LR_MANUAL
        weights[1] = weights[1] - g2 * LR_MANUAL
        return B.to_numpy(loss)

    describe(benchmark, B, device, "two_layer_step.vjp_functional", flops=FLOPS,
             compare_to="two_layer_step.autograd_manual_update",
             comparison="functional vjp step / backward() step")
    _run(benchmark, step)


def autograd_manual_update_step(B, device):
    """004 § 3: autograd computes the gradients, the update is written by hand, untracked."""
    x, y, w1, w2 = _tensors(B, device)

    def step():
        loss = B.sum((B.relu(x @ w1) @ w2 - y) ** 2)
        B.backward(loss)
        for w in (w1, w2):
            B.sub_(w, B.grad(w) * LR_MANUAL)
            B.zero_(B.grad(w))
        return B.to_numpy(loss)

    return step


def direct_torch_step(B, device):
    """The step of autograd_manual_update_step written directly in torch (004 § 3), to measure
    what the adapter costs. Same tensors, same operations, same read-back of the loss."""
    import torch

    x, y, w1, w2 = _tensors(B, device)

    def step():
        loss = ((torch.relu(x @ w1) @ w2 - y) ** 2).sum()
        loss.backward()
        with torch.no_grad():
            w1.sub_(w1.grad * LR_MANUAL)  # the seed's w1 -= learning_rate * w1.grad
            w2.sub_(w2.grad * LR_MANUAL)
            w1.grad.zero_()
            w2.grad.zero_()
        return loss.detach().cpu().numpy()

    return step


@pytest.mark.needs(Capability.STORES_GRADIENTS.value, Capability.IN_PLACE.value)
def test_autograd_manual_update(B, device, benchmark):
    """004 § 3: autograd computes the gradients, the update is written by hand, untracked."""
    describe(benchmark, B, device, "two_layer_step.autograd_manual_update", flops=FLOPS,
             compare_to="two_layer_step.direct_torch",
             comparison="adapter overhead: torch adapter / the same step written in torch")
    _run(benchmark, autograd_manual_update_step(B, device))


def test_direct_torch(B, device, benchmark):
    """The step of test_autograd_manual_update written directly in torch, to measure what the
    adapter costs."""
    if B.name != "torch":
        pytest.skip("the direct-torch reference is measured next to the torch adapter only")
    describe(benchmark, B, device, "two_layer_step.direct_torch", flops=FLOPS, engine="torch (direct)")
    _run(benchmark, direct_torch_step(B, device))


def _module_step(B, device, benchmark, make_optimizer, workload, comparison):
    x0, y0, _, _ = two_layer_arrays(np.random.default_rng(0), np.float64)
    x, y = _constants(B, device, x0, y0)
    model = two_layer_sequential(B, device)
    opt = make_optimizer([p for _, p in B.named_parameters(model)])

    def step():  # 004 § 6: forward, loss, zero_grad, backward, step
        loss = B.mse_loss(model(x), y, reduction="sum")
        B.zero_grad(opt)
        B.backward(loss)
        B.step(opt)
        return B.to_numpy(loss)

    describe(benchmark, B, device, workload, flops=FLOPS,
             compare_to="two_layer_step.autograd_manual_update", comparison=comparison)
    _run(benchmark, step)


@pytest.mark.needs(Capability.MODULES.value, Capability.OPTIMIZERS.value, Capability.STORES_GRADIENTS.value)
def test_sequential_sgd(B, device, benchmark):
    """004 §§ 5-7: nn.Sequential(Linear, ReLU, Linear), MSE (sum), SGD step."""
    _module_step(B, device, benchmark, lambda ps: B.sgd(ps, lr=LR_NN), "two_layer_step.sequential_sgd",
                 "nn.Sequential + SGD / manual update")


@pytest.mark.needs(Capability.MODULES.value, Capability.OPTIMIZERS.value, Capability.STORES_GRADIENTS.value)
def test_sequential_adam(B, device, benchmark):
    """004 § 6: the same model with Adam (lr 1e-4)."""
    _module_step(B, device, benchmark, lambda ps: B.adam(ps, lr=LR_NN), "two_layer_step.sequential_adam",
                 "nn.Sequential + Adam / manual update")
