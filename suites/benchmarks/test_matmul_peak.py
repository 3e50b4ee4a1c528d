"""The peak the workloads are measured against (autograd_conformance/benchmarks/peak.py): a square
matrix product alone, big enough to be compute-bound (n = 512 on a host CPU, 4096 on an
accelerator), through the adapter in the workloads' dtype (the engine's default float), and numpy's
product on the host beside it as the machine's reference. Each call sums the product and reads the
sum back (lazy engines compute, devices synchronise, and no n x n copy to the host is timed); the
sum's n^2 additions are not counted, 1/(2n) of the product's 2n^3 FLOPs. The peak is the fastest
round's rate (peak.py), of at least PEAK_ROUNDS rounds (the marker's min_rounds replaces
--benchmark-min-rounds here; --benchmark-max-time may allow more): a short run's few rounds may all
meet other work on a shared machine."""

import numpy as np
import pytest

from autograd_conformance.benchmarks.peak import ENGINE, NUMPY
from autograd_conformance.benchmarks.workloads import describe

HOST_N, ACCELERATOR_N = 512, 4096
PEAK_ROUNDS = 10

pytestmark = pytest.mark.benchmark(group="matmul_peak", min_rounds=PEAK_ROUNDS)


def size(device: str) -> int:
    """Compute-bound on the device: a host CPU (tinygrad's "python" too) or an accelerator."""
    return HOST_N if device.partition(":")[0] in ("cpu", "python") else ACCELERATOR_N


def _operands(n: int, dtype: str):
    rng = np.random.default_rng(0)  # its own: no test order or plugin changes it
    return (rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype))


def test_matmul_peak(B, device, benchmark):
    n = size(device)
    a0, b0 = _operands(n, B.default_float)
    a = B.tensor(a0, device=device, requires_grad=False)
    b = B.tensor(b0, device=device, requires_grad=False)

    def run():
        return B.to_numpy(B.sum(B.matmul(a, b)))

    describe(benchmark, B, device, f"matmul_peak[{n}]", flops=2 * n ** 3, peak=ENGINE, n=n)
    run()
    assert np.isfinite(benchmark(run))


def test_matmul_peak_numpy(B, device, benchmark):
    """numpy on the host: measured once per run, on the backend's first device (as the workloads
    that run in numpy are)."""
    if device != B.available_devices()[0]:
        pytest.skip("numpy runs on the host: measured once, on the backend's first device")
    a, b = _operands(HOST_N, B.default_float)

    def run():
        return np.sum(a @ b)

    describe(benchmark, B, device, f"matmul_peak.numpy[{HOST_N}]", flops=2 * HOST_N ** 3, peak=NUMPY,
             n=HOST_N, engine="numpy", numpy_version=np.__version__)
    run()
    assert np.isfinite(benchmark(run))
