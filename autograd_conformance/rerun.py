"""Rerun lines: the command that reruns one test (or a few) of this run as the run ran it, printed
in each failure's message, in the reports and by ``report rebuild``."""

from __future__ import annotations

import os
import shlex

import pytest

from autograd_conformance import run


def command(config: pytest.Config, nodeid: str, device: str | None, *more: str) -> str:
    """A command that reruns the test nodeid (and the tests in more) as this run ran them, from
    the directory the run started in: a test as a path from there in a checkout; from an installed
    copy (the test file outside that directory, say in site-packages) by its absolute path, with
    the plugin named."""
    this = run.of(config)
    here = config.invocation_params.dir.resolve()
    targets, outside = [], False
    for test in (nodeid, *more):
        file, sep, rest = test.partition("::")
        path = (this.paths if this else {}).get(test, config.rootpath / file).resolve()
        outside = outside or not path.is_relative_to(here)
        targets.append((os.path.relpath(path, here) if path.is_relative_to(here) else str(path)) + sep + rest)
    args = ["pytest", "-p", "autograd_conformance.plugin"] if outside else ["pytest"]
    args += ["--backend", config.getoption("backend")]
    if device:
        args += ["--device", device]
    if this and this.expectations_arg:  # the file in use, or 'none' if turned off
        args += ["--expectations", this.expectations_arg]
    return " ".join(shlex.quote(a) for a in args + targets)
