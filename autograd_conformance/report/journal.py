"""The run's journal: every test start and finished test phase appended to
``<report-dir>/conformance.journal.<run id>.jsonl`` as it comes, so that a run killed outright (a
segfault or ``os._exit`` in an engine's C code, SIGKILL, the OOM killer) still leaves what it found.
Each run owns its journal (the run id is its process id, start time and a random part): runs that
share a report directory never write into, or remove, each other's. A run that ends normally
writes its reports and removes its journal; one that did not leaves it, and

    python -m autograd_conformance.report rebuild DIR

writes the reports from it, marked incomplete and naming the tests that were running and the
phase (setup, call, teardown) each was in.

Lines are JSON objects: the first ``{"meta": ...}`` (backend, devices, command, collected, ...),
then ``{"start": nodeid, "props", "rerun"}`` when a test starts (in a serial run; under xdist the
controller learns of a test's start with its first phase), ``{"nodeid", "when", "phase", "props", "rerun"}``
per finished phase, and ``{"collected": n}`` when the number of collected tests becomes known
after the first line. Each line is written with one ``os.write`` on a file opened for appending, so
a line is on disk (in the kernel's hands) as soon as it is written, whatever happens to the
process next.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

PREFIX, SUFFIX = "conformance.journal.", ".jsonl"
PHASES = ("setup", "call", "teardown")


def new_run_id() -> str:
    return f"{os.getpid()}-{int(time.time())}-{secrets.token_hex(2)}"


def find(directory: Path) -> list[Path]:
    """The journals runs left in directory, oldest first."""
    return sorted(Path(directory).glob(f"{PREFIX}*{SUFFIX}"), key=lambda p: p.stat().st_mtime)


class Journal:
    def __init__(self, directory: Path, run_id: str) -> None:
        self.path = Path(directory) / f"{PREFIX}{run_id}{SUFFIX}"
        self.fd: int | None = None

    @property
    def opened(self) -> bool:
        return self.fd is not None

    def open(self, meta: dict) -> None:
        """Opened at the first conformance test's start, with the run's description first."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        self._write({"meta": meta})

    def start(self, nodeid: str, props: dict, rerun: str) -> None:
        self._write({"start": nodeid, "props": props, "rerun": rerun})

    def phase(self, nodeid: str, when: str, phase: dict, props: dict, rerun: str) -> None:
        self._write({"nodeid": nodeid, "when": when, "phase": phase, "props": props, "rerun": rerun})

    def collected(self, count: int) -> None:
        self._write({"collected": count})

    def _write(self, entry: dict) -> None:
        os.write(self.fd, (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8"))

    def remove(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.path.unlink(missing_ok=True)


@dataclass
class Record:
    """What a journal holds. running: each test that started and did not finish, with the phase
    it was in (the first of setup, call, teardown it has no report of)."""
    meta: dict
    phases: dict = field(default_factory=dict)  # nodeid -> when -> phase
    props: dict = field(default_factory=dict)
    reruns: dict = field(default_factory=dict)
    running: dict = field(default_factory=dict)  # nodeid -> phase it died in


def read(path: Path) -> Record:
    """A journal's record. A last line cut short by the process's death is ignored."""
    meta, started, phases, props, reruns = None, {}, {}, {}, {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "meta" in entry:
            meta = dict(entry["meta"])
        elif "start" in entry:
            started[entry["start"]] = None
            props.setdefault(entry["start"], entry.get("props") or {})
            reruns.setdefault(entry["start"], entry.get("rerun") or "")
        elif "collected" in entry and meta is not None:
            meta["collected"] = max(meta.get("collected", 0), entry["collected"])
        elif "nodeid" in entry:
            started.setdefault(entry["nodeid"], None)
            phases.setdefault(entry["nodeid"], {})[entry["when"]] = entry["phase"]
            props[entry["nodeid"]] = entry["props"]
            reruns[entry["nodeid"]] = entry["rerun"]
    if meta is None:
        raise ValueError(f"{path} is not a conformance journal (no meta line)")
    running = {}
    for nodeid in started:
        done = phases.get(nodeid, {})
        if "teardown" in done or "???" in done:
            continue
        running[nodeid] = next(p for p in PHASES if p not in done)
    return Record(meta, phases, props, reruns, running)
