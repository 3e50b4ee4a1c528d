"""The run's journal: every finished test phase appended to ``<report-dir>/conformance.journal.jsonl``
as it comes, so that a run killed outright (a segfault or ``os._exit`` in an engine's C code,
SIGKILL, the OOM killer) still leaves what it found. A run that ends normally writes its reports
and removes the journal; one that did not leaves it, and

    python -m autograd_conformance.report rebuild DIR

writes the reports from it, marked incomplete and naming the test that was running.

Lines are JSON objects: the first ``{"meta": ...}`` (backend, devices, command, ...), then one
``{"nodeid", "when", "phase", "props", "rerun"}`` per finished phase, in the order they finished.
Each line is written with one ``os.write`` on a file opened for appending, so a line is on disk
(in the kernel's hands) as soon as the test phase ends, whatever happens to the process next.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

NAME = "conformance.journal.jsonl"


class Journal:
    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / NAME
        self.fd: int | None = None

    def phase(self, nodeid: str, when: str, phase: dict, props: dict, rerun: str, meta) -> None:
        if self.fd is None:  # opened at the first conformance test's first phase
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
            self._write({"meta": meta()})
        self._write({"nodeid": nodeid, "when": when, "phase": phase, "props": props, "rerun": rerun})

    def _write(self, entry: dict) -> None:
        os.write(self.fd, (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8"))

    def remove(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.path.unlink(missing_ok=True)


def read(path: Path) -> tuple[dict, dict, dict, dict, str | None]:
    """(meta, phases, props, reruns, the test that was running when the journal ends) of a journal.
    A last line cut short by the process's death is ignored."""
    meta, phases, props, reruns = None, {}, {}, {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "meta" in entry:
            meta = entry["meta"]
            continue
        phases.setdefault(entry["nodeid"], {})[entry["when"]] = entry["phase"]
        props[entry["nodeid"]] = entry["props"]
        reruns[entry["nodeid"]] = entry["rerun"]
    if meta is None:
        raise ValueError(f"{path} is not a conformance journal (no meta line)")
    running = next((nodeid for nodeid, by_when in reversed(phases.items())
                    if "teardown" not in by_when and "???" not in by_when), None)
    return meta, phases, props, reruns, running
