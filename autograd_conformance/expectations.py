"""Expectation files: a backend's known deviations from the seeds' claims.

A TOML file with one ``[[expected_failure]]`` table per deviation::

    [[expected_failure]]
    claim = "accumulation.second-backward-adds"      # required: a claim id
    test = "test_accumulation.py::test_second_backward_adds"  # optional: one test of the claim
    device = "cpu"                                    # optional: only on this device
    reason = "backward() overwrites .grad"            # required: what the engine does instead
    link = "https://..."                              # optional: the engine's issue or docs

Tests an entry matches are marked ``xfail(strict=True)``: a listed failure reports as an expected
failure, and one that passes fails the run as XPASS(strict), so the file can be tightened.
*Not applicable* is never written here: it follows from the adapter's declared capabilities.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from autograd_conformance.claims import CLAIMS

KEYS = {"claim", "test", "device", "reason", "link"}


class ExpectationsError(Exception):
    """The file is missing or malformed; the message names the entry and the fix."""


@dataclass(frozen=True)
class Expectation:
    claim: str
    reason: str
    test: str | None = None
    device: str | None = None
    link: str | None = None

    def matches(self, claim: str | None, test: str, device: str | None) -> bool:
        return (claim == self.claim and (self.test is None or self.test == test)
                and (self.device is None or self.device == device))

    def describe(self) -> str:
        where = f" [{self.test}]" if self.test else ""
        return f"{self.claim}{where}: {self.reason}" + (f" ({self.link})" if self.link else "")


def load(path: str | Path) -> list[Expectation]:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExpectationsError(f"expectations file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ExpectationsError(f"expectations file {path} is not valid TOML: {exc}") from None
    unknown_tables = set(data) - {"expected_failure"}
    if unknown_tables:
        raise ExpectationsError(f"{path}: unknown table(s) {sorted(unknown_tables)}; "
                                "only [[expected_failure]] entries are allowed")
    entries = data.get("expected_failure", [])
    if not isinstance(entries, list):
        raise ExpectationsError(f"{path}: write each entry as [[expected_failure]], not [expected_failure]")
    result = []
    for n, entry in enumerate(entries, 1):
        where = f"{path}: [[expected_failure]] entry {n}"
        extra = set(entry) - KEYS
        if extra:
            raise ExpectationsError(f"{where} has unknown key(s) {sorted(extra)}; allowed: {sorted(KEYS)}")
        for key in ("claim", "reason"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise ExpectationsError(f"{where} needs a non-empty string '{key}'")
        if entry["claim"] not in CLAIMS:
            raise ExpectationsError(f"{where} names unknown claim {entry['claim']!r}; "
                                    "see autograd_conformance/claims.py for the ids")
        result.append(Expectation(**entry))
    return result


def item_key(item) -> str:
    """How an entry names a test: '<file name>::<function name>', without parameters."""
    return f"{Path(str(item.path)).name}::{getattr(item, 'originalname', item.name)}"
