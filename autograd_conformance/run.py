"""The run: what one conformance run tests, and how. ``plugin.pytest_configure`` builds it once
(backend, devices, expectation entries, prerequisites) and stashes it on the config; the fixtures,
the gating, the expectations, the rerun lines (rerun.py), the reports (report/collect.py) and the
benchmarks' JSON read it from there with ``of(config)``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Run:
    backend: Any  # the adapter under test (registry.load_backend)
    devices: list[str]  # the devices each test runs on (--device)
    timeout: float = 0.0  # seconds each test may run, 0 for no limit (options.timeout)
    expectations: list = field(default_factory=list)  # expectations.Expectation entries in use
    expectations_arg: str | None = None  # the file in use as rerun lines pass it, or "none"
    prerequisites: Any = None  # prerequisites.Prerequisites: each prerequisite's verdict per device
    paths: dict[str, Path] = field(default_factory=dict)  # nodeid -> its test file (rerun lines)


KEY = pytest.StashKey[Run]()


def of(config: pytest.Config) -> Run | None:
    """The run of this pytest session; None where the plugin did not configure one."""
    return config.stash.get(KEY, None)
