"""002 (Gradient tracking): a forward pass under no_grad is cheaper than a tracked one, in time
and in the memory the graph holds. The seeds' two-layer net (004; N=64, D_in=1000, H=100, D_out=10)
with trainable weights, forward only."""

import numpy as np
import pytest

from autograd_conformance.benchmarks.workloads import describe, graph_memory, mlp_forward_flops
from autograd_conformance.protocol import Capability

N, D_IN, H, D_OUT = 64, 1000, 100, 10
FLOPS = mlp_forward_flops(N, (D_IN, H, D_OUT))  # 2*N*D_in*H + 2*N*H*D_out = 12.93 MFLOP

pytestmark = pytest.mark.benchmark(group="two_layer_forward")


def _net(B, device):
    rng = np.random.default_rng(0)  # its own: no test order or plugin changes it
    x = B.tensor(rng.standard_normal((N, D_IN)), device=device, requires_grad=False)
    w1 = B.tensor(rng.standard_normal((D_IN, H)), device=device, requires_grad=True)
    w2 = B.tensor(rng.standard_normal((H, D_OUT)), device=device, requires_grad=True)
    return (x, w1, w2), lambda: B.relu(x @ w1) @ w2


def test_forward_tracked(B, device, benchmark):
    inputs, forward = _net(B, device)
    describe(benchmark, B, device, "two_layer_forward.tracked", flops=FLOPS,
             **graph_memory(B, forward, inputs))
    forward()
    benchmark(lambda: B.to_numpy(forward()))


@pytest.mark.requires(Capability.NO_GRAD.value)
def test_forward_no_grad(B, device, benchmark):
    inputs, forward = _net(B, device)

    def untracked():
        with B.no_grad():
            return forward()

    describe(benchmark, B, device, "two_layer_forward.no_grad", flops=FLOPS,
             compare_to="two_layer_forward.tracked",
             comparison="002: forward under no_grad / tracked forward",
             **graph_memory(B, untracked, inputs))
    untracked()
    benchmark(lambda: B.to_numpy(untracked()))
