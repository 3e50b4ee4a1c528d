"""The machine's peak for the workloads' dominant operation, the matrix product, and each workload's
fraction of it.

Every suite workload with a FLOP count spends its FLOPs in matrix products (dense layers), so its
achieved GFLOP/s (matrix-product FLOPs / median time) is compared with what a matrix product alone
reaches on the same backend, device and machine, in the same run: the ``matmul_peak`` benchmark
(suites/benchmarks/test_matmul_peak.py), a square product big enough to be compute-bound, through
the adapter in the workloads' dtype. Its ``extra_info`` says ``peak: "engine"``. numpy's product on
the host is measured beside it (``peak: "numpy"``): the machine's BLAS, the reference for the
workloads that run in numpy (``engine: "numpy"``) and for the engine's own product.

A peak is the product's FLOPs over its *fastest* round, not its median: the most the product reached
in the run. Other work on the machine only ever adds time to a round, so the fastest round is the
product's own speed even where a burst of other work hit several of the peak's few rounds (on a
shared 2-core machine a peak from the median came out below the workloads' rates, fractions of
170 %); a workload's rate stays its median's, as the report's times are.

A fraction is a ratio of two medians from one run, so the machine's speed and the load other work put
on it at the time cancel out to first order: fractions from a busy 2-core CI machine and a quiet
workstation are comparable where the times are not. It is not a hardware limit: a workload whose
products are larger than the peak's, or a peak measured during a burst of other work, shows above
100 %.
"""

from __future__ import annotations

ENGINE, NUMPY = "engine", "numpy"  # the two kinds of peak (extra_info["peak"])


def kind_of(extra_info: dict) -> str:
    """Which peak a benchmark is compared with: numpy's for work done in numpy, else the engine's."""
    return NUMPY if extra_info.get("engine") == NUMPY else ENGINE


def gflops(flops: float | None, seconds: float | None) -> float | None:
    if not flops or not seconds:
        return None
    return flops / seconds / 1e9


def _key(extra_info: dict, kind: str) -> tuple:
    """Benchmarks compared with one peak: same backend, version and device, same kind."""
    return (extra_info.get("backend"), str(extra_info.get("backend_version")), extra_info.get("device"), kind)


def annotate(benchmarks: list[dict]) -> list[dict]:
    """Give each benchmark of ONE run (pytest-benchmark's JSON ``benchmarks``) with a FLOP count its
    ``gflops`` (from its median time; a peak's from its fastest round) and ``fraction_of_peak`` in
    ``extra_info`` (None where the run measured no peak for it); return the run's peaks, one per
    backend · device and kind."""
    peaks: dict[tuple, dict] = {}
    for bench in benchmarks:
        info, stats = bench.get("extra_info") or {}, bench.get("stats") or {}
        rate = gflops(info.get("flops"), stats.get("min"))
        if info.get("peak") in (ENGINE, NUMPY) and rate is not None:
            key = _key(info, info["peak"])
            if key not in peaks or rate > peaks[key]["gflops"]:  # several sizes: the fastest
                peaks[key] = {"backend": key[0], "backend_version": key[1], "device": key[2],
                              "kind": key[3], "workload": info.get("workload"),
                              "dtype": info.get("dtype"), "gflops": rate}
    for bench in benchmarks:
        info, stats = bench.get("extra_info"), bench.get("stats") or {}
        if info is None or not info.get("flops"):
            continue
        rate = gflops(info["flops"], stats.get("min" if info.get("peak") else "median"))
        peak = peaks.get(_key(info, kind_of(info)))
        info["gflops"] = rate
        info["fraction_of_peak"] = rate / peak["gflops"] if rate is not None and peak else None
    return list(peaks.values())
