"""Rerun lines work as printed: a run's failing test is rerun by running, in a shell in the
directory the run started from with the environment a fresh shell has, the very line the report
gives it. However the run was started (a checkout, pytest with an installed copy, an installed
copy in a .venv inside an engine's repository, the autograd-conformance command) and wherever its
adapter was found (PYTHONPATH), the line reruns that one test, which fails again, and leaves the
run's own reports as they were."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs of their own: not in the fast subset (-m "not slow")

ROOT = Path(__file__).resolve().parent.parent
TEST = "test_leaf_has_no_node"

ADAPTER = """
    from autograd_conformance.backends.torch_backend import TorchBackend

    class LeafWithNode(TorchBackend):
        '''Says a leaf has a graph node: graph.leaf-has-no-node fails.'''
        name = "leaf-with-node"
        def grad_fn(self, t):
            return object()
"""


def shell_environment() -> dict[str, str]:
    """A fresh shell's: no PYTHONPATH, the venv's bin on PATH (as after activating it)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, "OMP_NUM_THREADS": "1"}


def start_in_checkout(tmp):
    return ROOT, [sys.executable, "-m", "pytest", "suites/test_graph.py"]


def start_installed(tmp):
    return tmp, [sys.executable, "-m", "pytest", "-p", "autograd_conformance.plugin", "--pyargs",
                 "autograd_conformance.suites.test_graph"]


def start_venv_in_engine_repository(tmp):
    """The suite's files inside the engine's repository (as in its .venv's site-packages): their
    paths are relative to the invocation directory, which is no checkout of this project."""
    repo = tmp / "engine"
    suites = repo / ".venv" / "suites"
    shutil.copytree(ROOT / "suites", suites, ignore=shutil.ignore_patterns("__pycache__", "benchmarks"))
    return repo, [sys.executable, "-m", "pytest", "-p", "autograd_conformance.plugin", "-p", "no:randomly",
                  str(suites / "test_graph.py")]


def start_command(tmp):
    return tmp, [str(Path(sys.executable).parent / "autograd-conformance")]


@pytest.mark.parametrize("start", [start_in_checkout, start_installed, start_venv_in_engine_repository,
                                   start_command], ids=["checkout", "installed", "venv-in-engine-repo", "command"])
def test_rerun_line_works_as_printed(tmp_path, start):
    adapters = tmp_path / "adapters"
    adapters.mkdir()
    (adapters / "leafy.py").write_text(textwrap.dedent(ADAPTER))
    cwd, argv = start(tmp_path)
    reports = tmp_path / "reports"
    env = {**shell_environment(), "PYTHONPATH": str(adapters)}  # the adapter is found through it
    run = subprocess.run([*argv, "--backend", "leafy:LeafWithNode", "-k", TEST, "-p", "no:cacheprovider",
                          "--report-dir", str(reports)], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    report = (reports / "conformance.json").read_text()
    (failing,) = [t for c in json.loads(report)["claims"] for t in c["tests"] if t["outcome"] == "fail"]
    line = failing["rerun"]
    assert f"rerun: {line}" in run.stdout  # the failure's message prints the same line

    rerun = subprocess.run(["bash", "-c", line], cwd=cwd, env=shell_environment(), capture_output=True,
                           text=True, timeout=300)
    output = rerun.stdout + rerun.stderr
    assert rerun.returncode == 1, f"{line}\n{output[-3000:]}"
    assert "1 failed" in output and "passed" not in output.splitlines()[-1], output[-1500:]
    assert f"{TEST}[cpu]" in output
    assert (reports / "conformance.json").read_text() == report, "the rerun overwrote the run's report"
