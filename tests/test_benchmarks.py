"""The workload benchmarks: excluded from conformance runs, --benchmarks, the report, adapter overhead."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from autograd_conformance.benchmarks.workloads import mlp_forward_flops, mlp_step_flops
from tests.conformance_run import run_forked, runpytest_forked

ROOT = Path(__file__).resolve().parent.parent
QUICK = ["--benchmark-min-rounds=1", "--benchmark-max-time=0.000001", "--benchmark-warmup=off"]
WORKLOADS = {
    "two_layer_step.manual_numpy", "two_layer_step.vjp_functional",
    "two_layer_step.autograd_manual_update", "two_layer_step.direct_torch",
    "two_layer_step.sequential_sgd", "two_layer_step.sequential_adam",
    "two_layer_forward.tracked", "two_layer_forward.no_grad",
    *(f"fashion_mlp_step[{arch},b{b}]" for arch in ("784-512-10", "784-512-512-10") for b in (16, 64)),
    *(f"relu_forward_backward.{kind}[{shape}]" for kind in ("builtin", "custom")
      for shape in ("64x100", "1024x1024")),
    "matmul_peak[512]", "matmul_peak.numpy[512]",
}


def pytest_run(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    argv = ["-p", "no:cacheprovider", "-p", "no:randomly", "--no-header", *args]
    # Under `pytest tests -n 2` this process is an xdist worker; pytest-benchmark in the child would
    # see PYTEST_XDIST_WORKER, believe it runs under xdist and disable itself.
    base = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}
    code, out, err = run_forked(argv, ROOT, {**base, **(env or {})}, timeout)
    return subprocess.CompletedProcess(argv, code, out, err)


def test_flop_formulas_match_the_hand_written_backprop():
    n, d_in, h, d_out = 64, 1000, 100, 10
    # 004 § 1: forward x.w1, h_relu.w2; backward h_relu.T.g, g.w2.T, x.T.grad_h
    manual = 2 * n * d_in * h + 2 * n * h * d_out + 2 * h * n * d_out + 2 * n * d_out * h + 2 * d_in * n * h
    assert mlp_step_flops(n, (d_in, h, d_out)) == manual
    assert mlp_forward_flops(16, (784, 512, 10)) == 2 * 16 * (784 * 512 + 512 * 10)


def test_default_run_collects_no_benchmark():
    everything = pytest_run("suites", "--collect-only", "-q")
    assert everything.returncode == 0, everything.stdout + everything.stderr
    assert "::test_" in everything.stdout, everything.stdout
    assert "benchmarks" not in everything.stdout, everything.stdout
    named = pytest_run("suites/benchmarks", "--collect-only", "-q")  # named explicitly: still out
    assert "::" not in named.stdout and "deselected" in named.stdout, named.stdout + named.stderr


def test_benchmarks_option_runs_them_and_writes_json(tmp_path):
    junit = tmp_path / "junit.xml"
    result = pytest_run("suites", "--benchmarks", "-q", "--report-dir", str(tmp_path / "rep"),
                        f"--junitxml={junit}", *QUICK)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    doc = json.loads((tmp_path / "rep" / "benchmarks.json").read_text())
    assert not (tmp_path / "rep" / "conformance.json").exists(), "a benchmark run wrote conformance reports"
    info = {b["extra_info"]["workload"]: b["extra_info"] for b in doc["benchmarks"]}
    assert set(info) == WORKLOADS
    assert doc["autograd_conformance"]["backend"] == "torch" and doc["autograd_conformance"]["torch_threads"] >= 1
    assert all(i["backend"] == "torch" and i["device"] == "cpu" for i in info.values())
    assert info["two_layer_step.autograd_manual_update"]["flops"] == mlp_step_flops(64, (1000, 100, 10))
    assert info["two_layer_forward.tracked"]["graph_saved_intermediate_bytes"] > 0
    assert info["two_layer_forward.no_grad"]["graph_saved_bytes"] == 0
    # the peak: a 512 x 512 float32 product through the adapter, and numpy's beside it
    peaks = {p["kind"]: p for p in doc["autograd_conformance"]["peaks"]}
    assert set(peaks) == {"engine", "numpy"}, peaks
    assert peaks["engine"]["workload"] == "matmul_peak[512]" and peaks["engine"]["dtype"] == "float32"
    assert info["matmul_peak[512]"]["flops"] == 2 * 512 ** 3 and info["matmul_peak[512]"]["peak"] == "engine"
    median = {b["extra_info"]["workload"]: b["stats"]["median"] for b in doc["benchmarks"]}
    fastest = {b["extra_info"]["workload"]: b["stats"]["min"] for b in doc["benchmarks"]}
    assert doc["benchmarks"][[b["extra_info"]["workload"] for b in doc["benchmarks"]].index(
        "matmul_peak[512]")]["stats"]["rounds"] >= 10, "the peak is the fastest of at least 10 rounds"
    assert peaks["engine"]["gflops"] == pytest.approx(2 * 512 ** 3 / fastest["matmul_peak[512]"] / 1e9)
    for workload, kind in (("two_layer_step.autograd_manual_update", "engine"),
                           ("two_layer_step.manual_numpy", "numpy")):
        rate = info[workload]["flops"] / median[workload] / 1e9
        assert info[workload]["gflops"] == pytest.approx(rate)
        assert info[workload]["fraction_of_peak"] == pytest.approx(rate / peaks[kind]["gflops"]), workload
    assert info["relu_forward_backward.builtin[64x100]"].get("fraction_of_peak") is None  # no FLOP count
    cases = list(ET.parse(junit).iter("testcase"))
    assert len(cases) == len(WORKLOADS), "only the benchmarks run"
    for case in cases:
        assert case.get("classname").startswith("suites.benchmarks."), case.get("classname")
        assert "claim" not in {p.get("name") for p in case.iter("property")}, case.get("name")


def test_benchmark_json_option_wins(tmp_path):
    target = tmp_path / "mine.json"
    result = pytest_run("suites", "--benchmarks", "-q", "-k", "forward_no_grad",
                        "--report-dir", str(tmp_path / "rep"), f"--benchmark-json={target}", *QUICK)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert [b["extra_info"]["workload"] for b in json.loads(target.read_text())["benchmarks"]] == \
        ["two_layer_forward.no_grad"]
    assert not (tmp_path / "rep" / "benchmarks.json").exists()


def test_other_benchmarks_are_left_alone_and_xdist_is_refused(pytester):
    pytester.makepyfile(test_theirs="def test_theirs(benchmark):\n    benchmark(sum, [1, 2])\n")
    result = runpytest_forked(pytester, "-p", "autograd_conformance.plugin", "-p", "no:cacheprovider", "-p", "no:randomly", "--no-report")
    result.assert_outcomes(passed=1)
    result = runpytest_forked(pytester, "-p", "autograd_conformance.plugin", "-p", "no:cacheprovider", "-p", "no:randomly", "--benchmarks", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--benchmarks cannot be combined with xdist*"])
    result = runpytest_forked(pytester, "-p", "autograd_conformance.plugin", "-p", "no:cacheprovider", "-p", "no:randomly", "--benchmarks", "-p", "no:benchmark")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--benchmarks needs pytest-benchmark*"])
    assert "pip install 'autograd-conformance[benchmarks]'" in result.stderr.str()


# A Python whose environment has no pytest-benchmark, as far as pytest can tell: its distribution is
# not listed (so its pytest11 entry point is not loaded) and its modules do not import.
WITHOUT_PYTEST_BENCHMARK = """
import importlib.metadata, sys
listed = importlib.metadata.distributions
def distributions(**kwargs):
    return [d for d in listed(**kwargs)
            if (d.metadata["Name"] or "").lower().replace("_", "-") != "pytest-benchmark"]
importlib.metadata.distributions = distributions
class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "pytest_benchmark":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NotInstalled())
import pytest
code = pytest.main(sys.argv[1:])
print("pytest_benchmark imported:", any(m.partition(".")[0] == "pytest_benchmark" for m in sys.modules))
sys.exit(code)
"""


@pytest.mark.slow  # two processes of their own (no forkserver: it has pytest-benchmark loaded)
def test_without_pytest_benchmark(tmp_path):
    """pytest-benchmark is an extra: a conformance run works without it, also one that names the
    benchmark package (its modules import and are left out), and --benchmarks is a usage error that
    names the extra to install."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST_", "PYTEST_ADDOPTS"))}

    def run(*args):
        return subprocess.run([sys.executable, "-c", WITHOUT_PYTEST_BENCHMARK, "-p", "no:cacheprovider",
                               "-p", "no:randomly", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)

    conformance = run("suites/test_backward.py", "suites/benchmarks", "-k", "mean_of_3_squares",
                      "--report-dir", str(tmp_path / "rep"))
    out = conformance.stdout + conformance.stderr
    assert conformance.returncode == 0, out[-3000:]
    assert " passed" in out and "error" not in out.lower(), out[-3000:]
    assert "pytest_benchmark imported: False" in out, out[-3000:]
    assert (tmp_path / "rep" / "conformance.json").exists()
    benchmarks = run("suites/benchmarks", "--benchmarks", "--report-dir", str(tmp_path / "rep"))
    assert benchmarks.returncode == pytest.ExitCode.USAGE_ERROR, benchmarks.stdout + benchmarks.stderr
    assert "--benchmarks needs pytest-benchmark" in benchmarks.stderr, benchmarks.stderr
    assert "pip install 'autograd-conformance[benchmarks]'" in benchmarks.stderr, benchmarks.stderr
    assert "pytest_benchmark imported: False" in benchmarks.stdout


# ------------------------------------------------------------------ the report command
def _bench(workload, backend, version, device, median, fastest=None, **extra):
    return {"name": f"test_x[{device}]", "fullname": f"suites/benchmarks/test_x.py::test_x[{device}]",
            "group": "g", "params": {"device": device},
            "extra_info": {"workload": workload, "backend": backend, "backend_version": version,
                           "device": device, "dtype": "float32", **extra},
            "stats": {"min": fastest or median * 0.9, "max": median * 2, "mean": median * 1.1,
                      "stddev": median / 10, "median": median, "rounds": 50, "iterations": 1}}


def _run_json(backend, version, benches):
    return {"machine_info": {"node": "box", "python_version": "3.11.7", "cpu": {"brand_raw": "Test CPU"}},
            "commit_info": {"id": "abc"}, "datetime": "2026-01-01T00:00:00", "version": "5.3.1",
            "autograd_conformance": {"backend": backend, "backend_version": version, "devices": ["cpu"],
                                     "torch_threads": 2},
            "benchmarks": benches}


def report_cli(*args):
    return subprocess.run([sys.executable, "-m", "autograd_conformance.benchmarks", "report", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_report_writes_table_and_svg(tmp_path):
    torch_run = _run_json("torch", "2.14.1", [
        _bench("step", "torch", "2.14.1", "cpu", 1e-3, flops=2_000_000, compare_to="step.direct",
               comparison="adapter / direct"),
        _bench("step.direct", "torch", "2.14.1", "cpu", 0.8e-3, flops=2_000_000),
        _bench("forward.tracked", "torch", "2.14.1", "cpu", 2e-4, graph_saved_bytes=4096,
               graph_saved_intermediate_bytes=1024)])
    other_run = _run_json("mygrad", "2.5.0", [
        _bench("step", "mygrad", "2.5.0", "cpu", 4e-3, flops=2_000_000),
        _bench("forward.tracked", "mygrad", "2.5.0", "cpu", 1e-4, graph_saved_bytes=None,
               graph_saved_intermediate_bytes=None)])
    (tmp_path / "a.json").write_text(json.dumps(torch_run))
    (tmp_path / "b.json").write_text(json.dumps(other_run))
    result = report_cli(str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    md = (tmp_path / "out" / "benchmarks.md").read_text()
    assert "| workload | MFLOP | torch 2.14.1 · cpu | mygrad 2.5.0 · cpu |" in md, md
    # 2 MFLOP in 1 ms = 2 GFLOP/s; mygrad 4 ms = 4x torch, 0.5 GFLOP/s
    assert "| `step` | 2.00 | 1 ms · 1.00× · 2.0 GFLOP/s | 4 ms · 4.00× · 0.5 GFLOP/s |" in md, md
    assert "| `forward.tracked` | – | 200 µs · 1.00× | 100 µs · 0.50× |" in md, md
    assert "| adapter / direct | `step` / `step.direct` | 1.250× | · |" in md, md
    assert "| `forward.tracked` | torch · cpu | 4.0 KiB | 1.0 KiB |" in md, md
    assert "| `forward.tracked` | mygrad · cpu | n/a | n/a |" in md, md
    svg = ET.parse(tmp_path / "out" / "benchmarks.svg").getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    titles = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}title")]
    assert "step · mygrad 2.5.0 · cpu: 4.00×" in titles, titles
    assert "adapter / direct · torch 2.14.1 · cpu: 1.25×" in titles, titles


def test_report_without_reference_and_bad_input(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps(_run_json("mygrad", "2.5.0", [
        _bench("step", "mygrad", "2.5.0", "cpu", 4e-3)])))
    result = report_cli(str(tmp_path / "m.json"), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "not in these files: no ratios" in (tmp_path / "out" / "benchmarks.md").read_text()
    ET.parse(tmp_path / "out" / "benchmarks.svg")
    (tmp_path / "bad.json").write_text(json.dumps({"schema_version": 1, "kind": "run"}))
    result = report_cli(str(tmp_path / "bad.json"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "not a pytest-benchmark JSON file" in result.stderr, result.stderr


def test_report_fraction_of_peak(tmp_path):
    """Each workload's GFLOP/s (from its median) over the matrix-product peak (from the product's
    fastest round) of its own run, backend and device: the engine's peak for the engine's work,
    numpy's for the work done in numpy; no peak, no fraction."""
    torch_run = _run_json("torch", "2.14.1", [
        _bench("matmul_peak[512]", "torch", "2.14.1", "cpu", 2.5e-3, 2e-3, flops=200_000_000, peak="engine"),
        _bench("matmul_peak.numpy[512]", "torch", "2.14.1", "cpu", 3e-3, 2.5e-3, flops=200_000_000,
               peak="numpy", engine="numpy"),
        _bench("step", "torch", "2.14.1", "cpu", 1e-4, flops=2_000_000),  # 20 GFLOP/s of 100
        _bench("step.numpy", "torch", "2.14.1", "cpu", 5e-5, flops=2_000_000, engine="numpy"),  # 40 of 80
        _bench("relu", "torch", "2.14.1", "cpu", 1e-5, flops=None)])
    mygrad_run = _run_json("mygrad", "2.5.0", [
        _bench("matmul_peak[512]", "mygrad", "2.5.0", "cpu", 1e-2, 8e-3, flops=200_000_000, peak="engine"),
        _bench("step", "mygrad", "2.5.0", "cpu", 2e-4, flops=2_000_000)])  # 10 GFLOP/s of 25
    no_peak_run = _run_json("paddle", "3.3.1", [_bench("step", "paddle", "3.3.1", "cpu", 4e-4, flops=2_000_000)])
    for name, doc in (("a", torch_run), ("b", mygrad_run), ("c", no_peak_run)):
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- benchmarks:start -->\nold\n<!-- benchmarks:end -->\n\nrest\n")
    result = report_cli(*(str(tmp_path / f"{n}.json") for n in "abc"), "--out", str(tmp_path / "out"),
                        "--readme", str(readme))
    assert result.returncode == 0, result.stderr
    md = (tmp_path / "out" / "benchmarks.md").read_text()
    assert ("| `step` | 2.00 | 100 µs · 1.00× · 20.0 GFLOP/s, 20% of peak | "
            "200 µs · 2.00× · 10.0 GFLOP/s, 40% of peak | 400 µs · 4.00× · 5.0 GFLOP/s |") in md, md
    assert "| `step.numpy` | 2.00 | 50 µs · 1.00× · 40.0 GFLOP/s, 50% of peak | · | · |" in md, md
    assert ("| `matmul_peak[512]` | 200.00 | 2.5 ms · 1.00× · 100.0 GFLOP/s (peak) | "
            "10 ms · 4.00× · 25.0 GFLOP/s (peak) | · |") in md, md
    assert "| `relu` | – | 10 µs · 1.00× | · | · |" in md, md
    assert "| torch 2.14.1 · cpu | float32 | 100.0 GFLOP/s | 80.0 GFLOP/s | 125% |" in md, md
    assert "| mygrad 2.5.0 · cpu | float32 | 25.0 GFLOP/s | · | · |" in md, md
    assert "paddle 3.3.1 · cpu | float32" not in md, "a run without a peak has no row in the peak table"
    svg = ET.parse(tmp_path / "out" / "benchmarks.svg").getroot()
    titles = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}title")]
    assert "step · mygrad 2.5.0 · cpu: 40%" in titles, titles
    text = readme.read_text()
    assert "old" not in text and text.endswith("<!-- benchmarks:end -->\n\nrest\n"), text
    assert "| `matmul_peak[512]` | 100.0 GFLOP/s | 25.0 GFLOP/s | · |" in text, text
    assert "| `step` | 20% · 20.0 | 40% · 10.0 | 5.0 GFLOP/s |" in text, text
    assert text.index("`matmul_peak[512]`") < text.index("`step`"), "the peaks come first"
    assert "`relu`" not in text, "the README's table shows only workloads with a FLOP count"
    assert "_3 run(s) of `pytest --benchmarks`, 2026-01-01, Test CPU." in text, "where the numbers come from"


# ------------------------------------------------------------------ measurement honesty
OVERHEAD_LIMIT = 0.05
PAIRS = 400
ROUNDS = 3  # a burst of a neighbour's work inflates one round; an overhead of the adapter shows in every one


def test_torch_adapter_overhead_within_5_percent():
    """The seeds' two-layer autograd step through the torch adapter vs the same step written in torch
    (the two benchmarks of suites/benchmarks/test_two_layer_step.py, built by the same functions).

    The two steps alternate, 400 pairs after a warm-up, which one goes first alternating too, so
    that both see the same conditions: on a 2-core machine shared with another xdist worker a step
    takes a quarter more or less time as the neighbour is busy or idle (a core runs faster with its
    neighbour idle), and two benchmarks measured one after the other, even back to back, met
    different conditions often enough to miss by 25 %. The statistic is the ratio of the two
    10th percentiles: a neighbour's work only ever adds time to a step, so the fast end of each
    distribution is the step's own cost (the medians moved by 6 % with two busy neighbours, the
    10th percentiles by under 2 %); a round that misses is measured again, up to three rounds (the
    adapter costs 3-4 % at rest, so a neighbour's burst can push one round past 5 %, while a real
    regression misses every round). torch runs single-threaded: a 2-thread matrix product on a busy
    2-core machine waits whole scheduler time slices for its descheduled second thread, which swamps
    a per-call cost of tens of microseconds; the adapter's cost per call does not depend on the
    thread count. Time is the process's CPU time (time.process_time): the time a busy machine keeps
    the process off a core is not the adapter's cost."""
    import torch

    from autograd_conformance.contracts import ContractView
    from autograd_conformance.backends.torch_backend import TorchBackend
    from suites.benchmarks.test_two_layer_step import autograd_manual_update_step, direct_torch_step

    B = ContractView(TorchBackend())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rounds = []
    try:
        for _ in range(ROUNDS):
            steps = {"adapter": autograd_manual_update_step(B, "cpu"), "direct": direct_torch_step(B, "cpu")}
            times: dict[str, list[float]] = {"adapter": [], "direct": []}
            for i in range(PAIRS + 30):
                for name in (("adapter", "direct") if i % 2 == 0 else ("direct", "adapter")):
                    start = time.process_time()
                    steps[name]()
                    if i >= 30:  # the first 30 pairs warm up
                        times[name].append(time.process_time() - start)
            adapter, direct = (statistics.quantiles(times[name], n=10)[0] for name in ("adapter", "direct"))
            rounds.append((adapter / direct, adapter, direct))
            if abs(adapter / direct - 1) <= OVERHEAD_LIMIT:
                break
    finally:
        torch.set_num_threads(threads)
    ratio, adapter, direct = min(rounds, key=lambda r: abs(r[0] - 1))
    assert abs(ratio - 1) <= OVERHEAD_LIMIT, (
        f"the torch adapter's training step takes {ratio:.3f}x the time of the same step written "
        f"directly in torch ({adapter * 1e6:.0f} vs {direct * 1e6:.0f} µs, 10th percentiles of {PAIRS} "
        f"alternating steps, the closest of {len(rounds)} rounds: "
        f"{', '.join(f'{r[0]:.3f}' for r in rounds)}; allowed 1 ± {OVERHEAD_LIMIT})")
