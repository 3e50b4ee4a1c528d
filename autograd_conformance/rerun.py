"""Rerun lines: the command that reruns one test (or a few) of this run as the run ran it, printed
in each failure's message, in the reports and by ``report rebuild``. Run as printed, from the
directory the run started in, a line works however the run was started:

- the command: ``autograd-conformance`` when the run was started by it (cli.py), else ``pytest``,
  with ``-p autograd_conformance.plugin`` wherever the plugin does not load by itself (anywhere
  but a checkout of this project: an installed copy, in a ``.venv`` inside an engine's
  repository or elsewhere);
- the environment the adapter was found and configured with: ``PYTHONPATH`` (its entries made
  absolute) and the variables the adapter names in its optional ``environment`` attribute, where
  the run had them;
- the run's ``--backend``, the test's ``--device``, the ``--expectations`` in use, and
  ``--no-report``: a rerun never overwrites the reports of the run it came from;
- the tests: paths from the invocation directory, or absolute where they lie outside it.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from autograd_conformance import autoload, cli, run


def command(config: pytest.Config, nodeid: str, device: str | None, *more: str) -> str:
    """A command that reruns the test nodeid (and the tests in more) as this run ran them."""
    this = run.of(config)
    here = config.invocation_params.dir.resolve()
    targets = []
    for test in (nodeid, *more):
        file, sep, rest = test.partition("::")
        path = (this.paths if this else {}).get(test, config.rootpath / file).resolve()
        targets.append((os.path.relpath(path, here) if path.is_relative_to(here) else str(path)) + sep + rest)
    if started_by_cli(config):
        args = ["autograd-conformance"]
    elif autoload.in_checkout(here):
        args = ["pytest"]
    else:
        args = ["pytest", "-p", "autograd_conformance.plugin"]
    args += ["--backend", config.getoption("backend")]
    if device:
        args += ["--device", device]
    if this and this.expectations_arg:  # the file in use, or 'none' if turned off
        args += ["--expectations", this.expectations_arg]
    args.append("--no-report")
    return " ".join([*environment(config, here), *(shlex.quote(a) for a in args + targets)])


def started_by_cli(config: pytest.Config) -> bool:
    """Whether cli.py started the run (it passes its own ini file with -c)."""
    args = list(config.invocation_params.args)
    return any(a == "-c" and b == str(cli.INI) for a, b in zip(args, args[1:]))


def environment(config: pytest.Config, here: Path) -> list[str]:
    """NAME=value words for the variables the adapter was found and configured with."""
    this = run.of(config)
    names = ["PYTHONPATH", *getattr(this.backend if this else None, "environment", ())]
    words = []
    for name in dict.fromkeys(names):
        value = os.environ.get(name)
        if value is None:
            continue
        if name == "PYTHONPATH":
            value = os.pathsep.join(os.path.normpath(here / entry) for entry in value.split(os.pathsep))
        words.append(f"{name}={shlex.quote(value)}")
    return words
