"""Writing the report files: a run's conformance.json/.md/.html, a merged matrix's
conformance-matrix.json/.md/.html, and a run's reports rebuilt from the journal a dead run left."""

from __future__ import annotations

import json
import os
from pathlib import Path

from autograd_conformance.outcomes import CRASH, TIMEOUT
from autograd_conformance.report import journal
from autograd_conformance.report.document import FILES, assemble, to_matrix
from autograd_conformance.report.html_page import matrix_html
from autograd_conformance.report.markdown import matrix_markdown, run_markdown

MATRIX_FILES = ("conformance-matrix.json", "conformance-matrix.md", "conformance-matrix.html")


def write_run(run: dict, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    _write(directory / FILES[0], json.dumps(run, indent=2, ensure_ascii=False) + "\n")
    _write(directory / FILES[1], run_markdown(run))
    backend = run["backend"]
    _write(directory / FILES[2], matrix_html(
        to_matrix(run), f"Autograd conformance: {backend['name']} {backend['version']}"))


def write_matrix(matrix: dict, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    _write(directory / MATRIX_FILES[0], json.dumps(matrix, indent=2, ensure_ascii=False) + "\n")
    _write(directory / MATRIX_FILES[1], matrix_markdown(matrix))
    _write(directory / MATRIX_FILES[2], matrix_html(matrix, "Autograd conformance matrix"))


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # a second Ctrl-C never leaves half a file


def rebuild(directory: Path, watchdog_file: Path | None = None) -> tuple[dict, str]:
    """Write the reports of a run that died from the journal it left in directory; return (the
    run report, why the run is incomplete). The test that was running is a crash, or a timeout
    when the watchdog's file (containment.py) says the watchdog ended the process during it.
    Raises OSError or ValueError when there is no journal to rebuild from."""
    meta, phases, props, reruns, running = journal.read(directory / journal.NAME)
    stacks = _watchdog_stacks(watchdog_file, running)
    if running and stacks is not None:
        reason = (f"the run stopped while {running} was running: it ran past its timeout and the "
                  "watchdog ended the process (a hang in native code)")
    elif running:
        reason = (f"the run stopped while {running} was running (its process died: a segfault, "
                  "os._exit, SIGKILL or the OOM killer)")
    else:
        reason = "the run stopped before it wrote its reports (its process died between tests)"
    if running:  # its own outcome, like a test whose xdist worker died
        outcome = TIMEOUT if stacks is not None else CRASH
        message = reason + (f"\n{stacks}" if stacks else "")
        phases[running]["???"] = {"outcome": outcome, "message": message, "summary": reason, "duration": 0.0}
    run = assemble(meta, phases, props, reruns, [reason], None, meta.get("collected", 0))
    write_run(run, directory)
    return run, reason


def _watchdog_stacks(path: Path | None, running: str | None) -> str | None:
    """The stacks the watchdog dumped while running was running, or None if it did not fire."""
    if path is None or running is None or not Path(path).is_file():
        return None
    first, _, stacks = Path(path).read_text(encoding="utf-8", errors="replace").partition("\n")
    return stacks.strip() if first == running and "Timeout (" in stacks else None
