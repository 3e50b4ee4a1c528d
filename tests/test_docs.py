"""The documentation's code runs: the adapter guide's example adapter (docs/adapter-guide.md) is
written out as the module it names and the suite runs on it; every claim it reaches holds."""

import os
import re
from pathlib import Path

import pytest

from autograd_conformance.outcomes import BAD, NA, PARTIAL, PASS
from tests.conformance_run import run_suite_cases

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "adapter-guide.md"


def _example(name: str) -> str:
    """The ```python block of the guide whose first line is '# <name>'."""
    for block in re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S):
        if block.startswith(f"# {name}\n"):
            return block
    raise AssertionError(f"{GUIDE.name} has no python block starting with '# {name}'")


@pytest.mark.timeout(600)
def test_the_adapter_guides_example_runs(tmp_path):
    (tmp_path / "docs_example.py").write_text(_example("docs_example.py"), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    code, cases, output = run_suite_cases(tmp_path, "--backend", "docs_example:TorchFuncBackend",
                                          suites=["suites/test_backward.py", "suites/test_ops.py"], env=env)
    assert cases, output[-3000:]
    bad = {t: c["message"][:300] for t, c in cases.items() if c["outcome"] in BAD}
    assert not bad and code == 0, f"the guide's example must hold every claim it reaches: {bad}"
    by_claim = {}
    for case in cases.values():
        by_claim.setdefault(case["claim"], []).append(case["outcome"])
    assert sorted(by_claim["backward.mean-of-3-squares"]) == sorted([PASS] * 3 + [NA] * 2), \
        "vjp runs, backward does not apply"
    assert all(o in (PASS, NA) for o in by_claim["ops.matmul-matches-numpy"]), "matmul: the tensor's @"
    assert PARTIAL not in by_claim, "outcomes are per test here"
