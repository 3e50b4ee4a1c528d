"""002 (Gradient tracking): a forward pass under no_grad is cheaper than a tracked one, in time
and in the memory the graph holds. The seeds' two-layer net (004; N=64, D_in=1000, H=100, D_out=10)
with trainable weights, forward only."""

import numpy as np
import pytest

from autograd_conformance.benchmarks.workloads import describe, graph_memory, mlp_forward_flops
from autograd_conformance.models import D_IN, D_OUT, H, N, two_layer_arrays
from autograd_conformance.protocol import Capability

FLOPS = mlp_forward_flops(N, (D_IN, H, D_OUT))  # 2*N*D_in*H + 2*N*H*D_out = 12.93 MFLOP

pytestmark = pytest.mark.benchmark(group="two_layer_forward")


def _net(B, device):
    x0, _, w1_0, w2_0 = two_layer_arrays(np.random.default_rng(0))
    x = B.tensor(x0, device=device, requires_grad=False)
    w1 = B.tensor(w1_0, device=device, requires_grad=True)
    w2 = B.tensor(w2_0, device=device, requires_grad=True)
    return (x, w1, w2), lambda: B.matmul(B.relu(B.matmul(x, w1)), w2)


def test_forward_tracked(B, device, benchmark):
    inputs, forward = _net(B, device)
    describe(benchmark, B, device, "two_layer_forward.tracked", flops=FLOPS,
             **graph_memory(B, forward, inputs))
    forward()
    benchmark(lambda: B.to_numpy(forward()))


@pytest.mark.needs(Capability.NO_GRAD.value)
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
