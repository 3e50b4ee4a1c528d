"""The benchmarks' pytest side: ``--benchmarks``, which tests it collects, and the run's own
information in pytest-benchmark's JSON. See the package docstring."""

from __future__ import annotations

import importlib.util
import os
import shlex
import sys
from pathlib import Path

import pytest

from autograd_conformance import run
from autograd_conformance.benchmarks import peak

BENCHMARKS_JSON = "benchmarks.json"


# ------------------------------------------------------------------ the pytest plugin
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograd-conformance", "autograd conformance suite")
    group.addoption(
        "--benchmarks", action="store_true",
        help="run only the benchmarks of the seeds' workloads (suites/benchmarks; excluded from "
             "conformance runs) and write pytest-benchmark JSON to <report-dir>/benchmarks.json "
             "unless --benchmark-json is given.")


def is_benchmark(item: pytest.Item) -> bool:
    """A conformance benchmark: a test using pytest-benchmark's ``benchmark`` and the backend ``B``.

    Other projects' benchmarks in the same environment (no ``B``) are left alone."""
    names = getattr(item, "fixturenames", ())
    return "benchmark" in names and "B" in names


def _benchmark_dirs() -> set[Path]:
    """Where the suite's benchmark package lives (checkout and installed copy)."""
    dirs = {Path(__file__).resolve().parent.parent / "suites" / "benchmarks"}
    try:
        spec = importlib.util.find_spec("autograd_conformance.suites")
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        dirs.add(Path(location).resolve() / "benchmarks")
    return dirs


def pytest_ignore_collect(collection_path: Path, config: pytest.Config):
    """Without --benchmarks the benchmark package is not even collected (nor imported)."""
    if collection_path.name != "benchmarks" or config.getoption("benchmarks", False):
        return None
    if collection_path.is_dir() and collection_path.resolve() in _benchmark_dirs():
        return True
    return None


INSTALL = "pip install 'autograd-conformance[benchmarks]'"


def has_pytest_benchmark(config: pytest.Config) -> bool:
    """pytest-benchmark is loaded in this run (installed, and not disabled with -p no:benchmark)."""
    return any(map(config.pluginmanager.hasplugin, ("benchmark", "pytest_benchmark.plugin")))


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark and the report writer read their options
def pytest_configure(config: pytest.Config) -> None:
    if not has_pytest_benchmark(config):
        # pytest-benchmark is an extra. Without it the benchmark modules still import (a run that
        # names suites/benchmarks deselects them): their marker is declared here, not by it.
        config.addinivalue_line("markers", "benchmark(**settings): pytest-benchmark's settings of a "
                                           "benchmark (pytest-benchmark is not loaded in this run)")
    if not config.getoption("benchmarks", False):
        return
    if not has_pytest_benchmark(config):
        raise pytest.UsageError(f"--benchmarks needs pytest-benchmark, which is not installed here or "
                                f"was disabled (-p no:benchmark): {INSTALL} (or leave out "
                                "-p no:benchmark)")
    if getattr(config.option, "numprocesses", None) or config.getoption("dist", "no") != "no":
        raise pytest.UsageError("--benchmarks cannot be combined with xdist (-n/--dist): parallel "
                                "workers compete for the cores being measured. Drop -n.")
    # A benchmark run checks no claim: plugin.py registers no conformance report writer for it.
    if config.getoption("benchmark_json", None) is None and not config.option.collectonly:
        directory = Path(config.invocation_params.dir, config.getoption("report_dir", None) or "reports")
        directory.mkdir(parents=True, exist_ok=True)
        config.option.benchmark_json = directory / BENCHMARKS_JSON


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = config.getoption("benchmarks", False)
    keep, drop = [], []
    for item in items:  # --benchmarks: only benchmarks; otherwise: everything but them
        (keep if is_benchmark(item) == wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config: pytest.Config) -> str | None:
    if not config.getoption("benchmarks", False):
        return None
    return f"benchmarks: only the workload benchmarks run; JSON to {config.getoption('benchmark_json')}"


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    """Add the backend, devices, thread count and the measured peaks of the run to pytest-benchmark's
    JSON, and to each benchmark with a FLOP count its GFLOP/s and fraction of the peak (peak.py)."""
    this = run.of(config)  # built by plugin.py
    if this is None:
        return
    peaks = peak.annotate(output_json.get("benchmarks") or [])
    backend, devices = this.backend, this.devices
    info = {"backend": backend.name, "backend_version": str(backend.version), "devices": list(devices),
            "suite_version": _suite_version(),
            "command": shlex.join(["pytest", *config.invocation_params.args])}
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
    if hasattr(os, "getloadavg"):  # other work on the machine at the end of the run (1, 5, 15 min)
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    info["cpu_count"] = os.cpu_count()
    info["peaks"] = peaks
    output_json["autograd_conformance"] = info


def _suite_version() -> str:
    from importlib import metadata
    try:
        return metadata.version("autograd-conformance")
    except metadata.PackageNotFoundError:
        return "unknown"
