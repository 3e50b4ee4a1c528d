"""An installed autograd-conformance leaves every other pytest run in the environment alone: a
separate small project (tests/citizen_project) with its own `device` and `benchmark` fixtures, its
own --backend and --timeout options and Hypothesis tests runs as without the suite.

The project's own tests run in an environment with more installed than the suite brings (the
`test` extra's pytest-timeout, the engines' extras), so the other project runs with the plugins
an environment holding only the suite and what it requires would auto-load: autoloading off,
and each of those plugins named with -p."""

import re
import shutil
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

PROJECT = Path(__file__).with_name("citizen_project")
DISTRIBUTION = "autograd-conformance"


def installed_with_the_suite() -> dict[str, str]:
    """The pytest11 entry points (name: distribution) of the suite and every distribution its
    requirements without extras bring, followed to the end."""
    seen, todo, plugins = set(), [DISTRIBUTION], {}
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a requirement of another platform or Python
        for entry in dist.entry_points.select(group="pytest11"):
            plugins[entry.name] = name
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return plugins


def test_suite_installs_no_timeout_or_benchmark_plugin():
    plugins = installed_with_the_suite()
    assert "autograd_conformance.autoload" in plugins
    foreign = {name: dist for name, dist in plugins.items() if dist in ("pytest-timeout", "pytest-benchmark")}
    assert not foreign, (f"installing the suite brings plugins that auto-load in every other project's "
                         f"runs: {foreign}")


def test_other_project_is_untouched(pytester, monkeypatch):
    for source in PROJECT.iterdir():
        if source.is_file():
            shutil.copy(source, pytester.path / source.name)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    plugins = [arg for name in installed_with_the_suite() for arg in ("-p", name)]
    result = pytester.runpytest_subprocess(*plugins, "-p", "no:cacheprovider", "--backend", "cli-backend",
                                           "--timeout", "cli-timeout", "-v")
    result.assert_outcomes(passed=6)
    assert "autograd conformance" not in result.stdout.str()
    imported = (pytester.path / "imported.txt").read_text().split()
    # only the package's dormant autoload module may load (its entry point), never the plugin or an engine
    assert imported == [], f"the other project's run imported {imported}"
