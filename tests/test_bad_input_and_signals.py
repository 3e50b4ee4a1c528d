"""Bad option values are usage errors (exit 4) that name the problem and the fix; SIGTERM ends a
run as Ctrl-C does, with the reports written and marked incomplete."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conformance_run import run_forked, runpytest_forked

pytestmark = pytest.mark.slow  # signals sent to runs of their own, some under xdist: not in the fast subset (-m "not slow")

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = """
    import numpy as np
    import pytest

    @pytest.mark.claim("backward.chain-rule-40")
    def test_chain(B, device):
        _, (dw,) = B.vjp(lambda w: 10 * w ** 2 + 25, [B.tensor(2.0, device=device)])
"""


@pytest.fixture
def suite(pytester):
    pytester.makepyfile(test_sample=SAMPLE)
    return pytester


def run(pytester, *args):
    return runpytest_forked(pytester, "-p", "autograd_conformance.plugin", "-p", "no:cacheprovider", "-p", "no:randomly",
                            *args)


@pytest.mark.parametrize("args, message", [
    (["--hypothesis-profile", "nosuch"], "--hypothesis-profile nosuch: no such Hypothesis profile"),
    (["--conformance-timeout", "-1"], "--conformance-timeout -1.0: give a number of seconds >= 0"),
    (["--report-dir", "afile"], "--report-dir afile: the reports cannot be written to"),
    (["--fashionmnist-root", "empty"], "--fashionmnist-root empty: *empty/FashionMNIST/raw is not a directory"),
    (["--fashionmnist-root", "truncated"], "--fashionmnist-root truncated: *train-images-idx3-ubyte is not a valid IDX file*"),
    (["--threads", "-2"], "--threads -2: give a number of threads >= 1, or 0*"),
    (["--conformance-timeout", "inf"], "--conformance-timeout inf: give a number of seconds >= 0"),
    (["--conformance-timeout", "nan"], "--conformance-timeout nan: give a number of seconds >= 0"),
    (["--timeout", "inf"], "--timeout inf: give a number of seconds >= 0"),  # pytest-timeout's, installed here
    (["-o", "conformance_timeout=abc"], "conformance_timeout = abc: give a number of seconds >= 0*"),
    (["--report-dir="], "--report-dir : the directory is empty*give a directory name*"),
    (["--backend", "exiting:Adapter"], "*importing 'exiting' called sys.exit('no engine here')*"),
    (["--report-dir", "blocked"], "--report-dir blocked: the reports cannot be written to *conformance.json is in "
                                  "the way (not a file)*"),
], ids=["hypothesis-profile", "timeout", "report-dir-file", "fashionmnist-empty", "fashionmnist-truncated",
        "threads", "timeout-inf", "timeout-nan", "pytest-timeout-inf", "ini-timeout", "report-dir-empty",
        "adapter-exits", "report-file-is-a-folder"])
def test_bad_option_is_a_usage_error(suite, args, message):
    (suite.path / "exiting.py").write_text("import sys\nsys.exit('no engine here')\n")
    (suite.path / "afile").write_text("not a directory")
    (suite.path / "empty").mkdir()
    (suite.path / "blocked" / "conformance.json").mkdir(parents=True)
    raw = suite.path / "truncated" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x10")  # a header cut short
    result = run(suite, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_report_dir_expands_the_home_directory(suite, monkeypatch):
    """--report-dir=~/x (the shell leaves a ~ after = alone) is the x in the home directory, not a
    directory named ~."""
    monkeypatch.setenv("HOME", str(suite.path / "home"))
    result = run(suite, "--report-dir=~/x")
    assert result.ret == 0
    assert (suite.path / "home" / "x" / "conformance.json").exists() and not (suite.path / "~").exists()
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output and "INTERNALERROR" not in output


@pytest.mark.parametrize("parallel", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_sigterm_writes_incomplete_reports(tmp_path, parallel):
    (tmp_path / "slow.py").write_text(
        "import time\nfrom autograd_conformance.backends.torch_backend import TorchBackend\n"
        "class Slow(TorchBackend):\n"
        "    def vjp(self, fn, inputs, seed=None):\n"
        "        time.sleep(0.5)\n        return super().vjp(fn, inputs, seed)\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "--backend", "slow:Slow", "-p", "no:cacheprovider", "-p", "no:randomly",
                             "--report-dir", str(tmp_path / "reports"), "-q", "-k", "vjp or chain", *parallel],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    report = tmp_path / "reports" / "conformance.json"
    wait_for(lambda: any('"when": "teardown"' in p.read_text() for p in (tmp_path / "reports").glob(
        "conformance.journal.*.jsonl")), proc)  # a test has finished (the run's journal says so)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output[-2000:]
    data = json.loads(report.read_text())
    assert data["complete"] is False and "SIGTERM" in data["incomplete_reason"], data["incomplete_reason"]
    assert 0 < data["finished"] < data["collected"]
    assert f"INCOMPLETE RUN: {data['incomplete_reason']}" in output  # the terminal summary says so too


def wait_for(condition, proc: subprocess.Popen, seconds: float = 240) -> None:
    """Poll condition until it holds (an event of the run under test, never a guess at its
    speed); fail if the process ends first or it takes longer than seconds."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before the awaited event"
        assert time.monotonic() < deadline, f"no awaited event in {seconds} s"
        time.sleep(0.1)


def test_serial_hard_crash_leaves_a_journal_to_rebuild_from(tmp_path):
    """os._exit inside a test ends a serial run at once; the journal it leaves rebuilds the reports
    (python -m autograd_conformance.report rebuild), incomplete, with the running test a crash."""
    (tmp_path / "dies.py").write_text(
        "import os\nfrom autograd_conformance.backends.torch_backend import TorchBackend\n"
        "class Dies(TorchBackend):\n"
        "    def custom_function(self, forward, backward):\n        os._exit(3)\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}", "OMP_NUM_THREADS": "1"}
    reports = tmp_path / "reports"
    code, _, stderr = run_forked(["--backend", "dies:Dies", "-p", "no:cacheprovider", "-p", "no:randomly",
                                  "--report-dir", str(reports), "-q", "-k", "chain_rule or myrelu_equals"],
                                 ROOT, env, timeout=300)
    assert code == 3 and len(list(reports.glob("conformance.journal.*.jsonl"))) == 1
    assert "Reports rebuilt from the journal" in stderr  # by the sentinel (test_containment.py)
    for name in ("conformance.json", "conformance.md", "conformance.html"):
        (reports / name).unlink()  # and once more by hand:
    rebuilt = subprocess.run([sys.executable, "-m", "autograd_conformance.report", "rebuild", str(reports)],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert rebuilt.returncode == 0, rebuilt.stderr
    data = json.loads((reports / "conformance.json").read_text())
    assert data["complete"] is False and \
        "test_myrelu_equals_relu[cpu-mask] was running (in its call)" in data["incomplete_reason"]
    outcomes = {c["id"]: c["outcome"] for c in data["claims"]}
    assert outcomes == {"backward.chain-rule-40": "pass", "custom.myrelu-equals-relu": "crash"}
    assert (reports / "conformance.md").exists() and (reports / "conformance.html").exists()


def test_record_is_removed_after_a_normal_run(tmp_path):
    run_forked(["--backend", "torch", "-p", "no:cacheprovider", "-p", "no:randomly", "-q",
                "--report-dir", str(tmp_path), "-k", "chain_rule"], timeout=300)
    assert (tmp_path / "conformance.json").exists() and not list(tmp_path.glob("conformance.journal.*"))
