"""Each run owns its record, and reports rebuilt from it tell the truth: runs sharing a report
directory never remove each other's journal, so a run that dies after another one finished gets
its own (incomplete) reports; a death during a test's setup names that test and its phase; after
the xdist controller is killed, the rebuilt report has the number of tests the workers collected.

Every wait here is for an event of the run under test (a file its test writes, a line of its
journal), never a guess at how fast it goes: these tests hold on a loaded machine."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs of their own, killed: not in the fast subset (-m "not slow")

ROOT = Path(__file__).resolve().parent.parent

BACKENDS = """
    import os, time
    from pathlib import Path
    from autograd_conformance.backends.torch_backend import TorchBackend

    HERE = Path(__file__).parent

    class DiesOnSignal(TorchBackend):
        '''Its vjp says it started, then waits for the file "go" and ends the process.'''
        name = "dies-on-signal"
        def vjp(self, fn, inputs, cotangent=None):
            (HERE / "in-vjp").touch()
            while not (HERE / "go").exists():
                time.sleep(0.05)
            os._exit(3)
"""

SUITE = """
    import time
    from pathlib import Path
    import numpy as np
    import pytest

    HERE = Path(__file__).parent

    @pytest.fixture
    def stuck_setup():
        (HERE / "in-setup").touch()
        while not (HERE / "release").exists():
            time.sleep(0.05)

    @pytest.mark.claim("backward.chain-rule-40")
    def test_chain(B, device):
        _, (dw,) = B.vjp(lambda w: 10 * w ** 2 + 25, [B.tensor(2.0, device=device)])

    @pytest.mark.claim("graph.leaf-has-no-node")
    @pytest.mark.parametrize("n", range(30))
    def test_leaf(B, device, n):
        assert B.grad_fn(B.tensor(np.ones(2), device=device, requires_grad=True)) is None

    @pytest.mark.claim("graph.leaf-has-no-node")
    def test_stuck_in_setup(B, device, stuck_setup):
        pass

    @pytest.mark.claim("graph.leaf-has-no-node")
    def test_stuck_in_call(B, device):
        (HERE / "in-call").touch()
        while not (HERE / "release").exists():
            time.sleep(0.05)
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "backends.py").write_text(textwrap.dedent(BACKENDS))
    (tmp_path / "test_record.py").write_text(textwrap.dedent(SUITE))
    yield tmp_path
    (tmp_path / "release").touch()
    (tmp_path / "go").touch()


def start(project: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{project}{os.pathsep}{ROOT}", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "pytest", "-p", "autograd_conformance.plugin",
                             "-p", "no:cacheprovider", "-p", "no:randomly", "--report-dir", "reports",
                             "-q", *args], cwd=project, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def wait_for(condition, what: str, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.1)


def report(project: Path) -> dict | None:
    path = project / "reports" / "conformance.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def journals(project: Path) -> list[Path]:
    return sorted((project / "reports").glob("conformance.journal.*.jsonl"))


def test_a_run_that_dies_after_another_finished_gets_its_own_reports(project):
    dying = start(project, "--backend", "backends:DiesOnSignal", "-k", "chain")
    wait_for(lambda: (project / "in-vjp").exists(), "the dying run's test to start")
    finishing = start(project, "--backend", "torch", "-k", "leaf and not stuck")
    output, _ = finishing.communicate(timeout=240)
    assert finishing.returncode == 0, output
    assert report(project)["complete"] is True
    assert len(journals(project)) == 1, "the finished run removed another run's journal"
    (project / "go").touch()
    dying.communicate(timeout=240)
    wait_for(lambda: (report(project) or {}).get("backend", {}).get("name") == "dies-on-signal",
             "the sentinel to rebuild the dead run's reports")
    data = report(project)
    assert data["complete"] is False and "test_chain[cpu] was running (in its call)" in data["incomplete_reason"]
    assert {c["id"]: c["outcome"] for c in data["claims"]} == {"backward.chain-rule-40": "crash"}


def test_a_death_in_setup_names_the_test_and_its_phase(project):
    proc = start(project, "--backend", "torch", "-k", "stuck_in_setup or chain")
    wait_for(lambda: (project / "in-setup").exists(), "the test's setup")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    wait_for(lambda: report(project) is not None, "the sentinel's rebuilt reports")
    data = report(project)
    assert "test_stuck_in_setup[cpu] was running (in its setup)" in data["incomplete_reason"], data["incomplete_reason"]
    assert data["collected"] == 2 and data["finished"] == 2  # the stuck test is a crash
    tests = {t["nodeid"]: t["outcome"] for c in data["claims"] for t in c["tests"]}
    assert tests == {"test_record.py::test_chain[cpu]": "pass", "test_record.py::test_stuck_in_setup[cpu]": "crash"}


def test_killed_xdist_run_reports_the_true_collected_count(project):
    proc = start(project, "--backend", "torch", "-n", "2", "-k", "not stuck_in_setup")
    wait_for(lambda: (project / "in-call").exists() and any(
        p.read_text().count('"when": "teardown"') >= 5 for p in journals(project)),
        "a stuck test and five finished ones")
    os.killpg(proc.pid, signal.SIGKILL)  # the controller and its workers, as a CI job's hard kill
    proc.communicate(timeout=60)
    wait_for(lambda: report(project) is not None, "the sentinel's rebuilt reports")
    data = report(project)
    assert data["collected"] == 32, data["collected"]  # 1 chain + 30 leaf + the stuck one
    assert 5 <= data["finished"] < 32
    assert data["incomplete_reason"].startswith("the run's controller process died"), data["incomplete_reason"]
    assert "test_stuck_in_call[cpu] (in its call)" in data["incomplete_reason"]
