"""The example workflow for engine authors (examples/github-actions-conformance.yml) parses, pins
every action by commit SHA, runs the suite and the benchmarks on each device kind, compares the
benchmarks with a stored baseline, and merges every job's reports in a final job; its shell scripts
are valid bash."""

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "examples" / "github-actions-conformance.yml"
PINNED = re.compile(r"^\s*(?:- )?uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)\s*$")


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _steps(job: dict) -> list[dict]:
    return job["steps"]


def _runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in _steps(job))


def test_every_action_is_pinned_by_commit_sha(workflow):
    lines = [line for line in WORKFLOW.read_text(encoding="utf-8").splitlines() if "uses:" in line
             and not line.lstrip().startswith("#")]
    uses = [step["uses"] for job in workflow["jobs"].values() for step in _steps(job) if "uses" in step]
    assert len(lines) == len(uses) and uses, (lines, uses)
    unpinned = [line.strip() for line in lines if not PINNED.match(line)]
    assert not unpinned, f"not pinned as 'uses: owner/action@<40-hex SHA> # vX.Y.Z': {unpinned}"
    versions: dict[str, set[str]] = {}
    for line in lines:
        action, sha, version = PINNED.match(line).groups()
        versions.setdefault(action.split("/")[1], set()).add((sha, version))
    assert all(len(pins) == 1 for pins in versions.values()), f"one release per action: {versions}"


def test_a_job_per_device_kind_runs_the_suite_and_the_benchmarks(workflow):
    job = workflow["jobs"]["conformance"]
    kinds = job["strategy"]["matrix"]["include"]
    runners = [k["runner"] for k in kinds]
    assert "ubuntu-latest" in runners and any("self-hosted" in r for r in runners if isinstance(r, list)), runners
    assert job["runs-on"] == "${{ matrix.runner }}"
    runs = _runs(job)
    assert re.search(r"autograd-conformance \\\n\s+--backend", runs), "the conformance run"
    assert "autograd-conformance --benchmarks" in runs
    assert "--device ${{ matrix.devices }}" in runs
    for option in ("--benchmark-storage=", "--benchmark-compare ", "--benchmark-compare-fail=median:",
                   "--benchmark-autosave"):
        assert option in runs, option
    assert "autograd-conformance[benchmarks]" in runs, "pytest-benchmark comes with the benchmarks extra"
    cache = [s for s in _steps(job) if s.get("uses", "").startswith("actions/cache/")]
    assert {s["uses"].split("@")[0] for s in cache} == {"actions/cache/restore", "actions/cache/save"}
    assert all(s["with"]["path"] == ".benchmarks/${{ matrix.kind }}" for s in cache)
    assert "benchmarks.md >> \"$GITHUB_STEP_SUMMARY\"" in runs and "conformance.md >> \"$GITHUB_STEP_SUMMARY\"" in runs
    upload = [s for s in _steps(job) if s.get("uses", "").startswith("actions/upload-artifact")]
    assert upload and upload[0]["with"]["name"] == "reports-${{ matrix.kind }}" and upload[0]["if"] == "always()"


def test_a_final_job_merges_every_jobs_reports(workflow):
    job = workflow["jobs"]["reports"]
    assert job["needs"] == "conformance" and job["if"] == "always()"
    download = [s for s in _steps(job) if s.get("uses", "").startswith("actions/download-artifact")]
    assert download and download[0]["with"]["pattern"] == "reports-*"
    runs = _runs(job)
    assert "python -m autograd_conformance.report merge" in runs
    assert "python -m autograd_conformance.benchmarks report" in runs
    assert runs.count('>> "$GITHUB_STEP_SUMMARY"') == 2


def test_its_shell_scripts_are_valid_bash(workflow, tmp_path):
    scripts = [step["run"] for job in workflow["jobs"].values() for step in _steps(job) if "run" in step]
    for i, script in enumerate(scripts):
        path = tmp_path / f"step{i}.sh"
        path.write_text(re.sub(r"\$\{\{[^}]*\}\}", "x", script), encoding="utf-8")
        result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"{script}\n{result.stderr}"
