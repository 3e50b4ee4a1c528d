"""An installed autograd-conformance leaves every other pytest run in the environment alone: a
separate small project (tests/citizen_project) with its own `device` fixture, its own --backend
option and Hypothesis tests runs in this environment exactly as without the suite."""

import shutil
from pathlib import Path

PROJECT = Path(__file__).with_name("citizen_project")


def test_other_project_is_untouched(pytester):
    for source in PROJECT.iterdir():
        if source.is_file():
            shutil.copy(source, pytester.path / source.name)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--backend", "cli-backend", "-v")
    result.assert_outcomes(passed=5)
    assert "autograd conformance" not in result.stdout.str()
    imported = (pytester.path / "imported.txt").read_text().split()
    # only the package's dormant autoload module may load (its entry point), never the plugin or an engine
    assert imported == [], f"the other project's run imported {imported}"
