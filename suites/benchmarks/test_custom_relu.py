"""004 § 4: the seeds' MyReLU (a custom Function) against the built-in relu, forward + backward
through vjp, at the seed's hidden-layer shape (64 x 100) and at 1024 x 1024. Both results (the
output and the input gradient) are read back, so lazy engines compute both."""

import numpy as np
import pytest

from autograd_conformance.benchmarks.workloads import describe
from autograd_conformance.protocol import Capability

from ..test_custom_function import my_relu

SHAPES = {"64x100": (64, 100), "1024x1024": (1024, 1024)}

pytestmark = pytest.mark.benchmark(group="relu_forward_backward")


def _measure(B, device, benchmark, relu, shape, workload, **info):
    rng = np.random.default_rng(0)  # its own: no test order or plugin changes it
    x = B.tensor(rng.standard_normal(SHAPES[shape]), device=device, requires_grad=False)
    v = B.tensor(rng.standard_normal(SHAPES[shape]), device=device, requires_grad=False)

    def run():
        out, (dx,) = B.vjp(relu, [x], v)
        return B.to_numpy(out), B.to_numpy(dx)

    describe(benchmark, B, device, workload, flops=None, shape=shape, **info)  # elementwise: no FLOP count
    run()
    benchmark(run)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_relu_builtin(B, device, benchmark, shape):
    _measure(B, device, benchmark, B.relu, shape, f"relu_forward_backward.builtin[{shape}]")


@pytest.mark.needs(Capability.CUSTOM_FUNCTION.value)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_relu_custom_function(B, device, benchmark, shape):
    _measure(B, device, benchmark, my_relu(B), shape, f"relu_forward_backward.custom[{shape}]",
             compare_to=f"relu_forward_backward.builtin[{shape}]",
             comparison=f"MyReLU custom Function / built-in relu ({shape})")
