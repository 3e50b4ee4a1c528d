"""The one module of the package that pytest loads by itself (its ``pytest11`` entry point), and
why it does nothing in other projects.

Outside a checkout of autograd-conformance it defines nothing but the hook below, which returns
at once: no options, fixtures, Hypothesis profile, timeout or engine import reach another
project's runs. Inside a checkout (the invocation directory or one above it holds this project's
pyproject.toml) it loads the conformance plugin *before* pytest reads the command line. The
checkout's conftest.py loads it too, but too late for one case: pytest chooses rootdir and the
initial conftests from the command line, and until the plugin's options are known, the value of
``--expectations FILE`` or ``--report-dir DIR`` is taken for a test path, so the run would start
from that path and never load the checkout's conftest.py (plugin.pytest_load_initial_conftests).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

PROJECT = "autograd-conformance"


def in_checkout(directory: Path) -> bool:
    """Whether directory is inside a checkout of this project (the nearest pyproject.toml is ours)."""
    for folder in (directory, *directory.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            try:
                return tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("name") == PROJECT
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                return False
    return False


def pytest_addoption(parser, pluginmanager) -> None:
    if in_checkout(Path.cwd()):
        pluginmanager.import_plugin("autograd_conformance.plugin")
