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


def journal_of(source: Path) -> Path:
    """The journal to rebuild from: source itself, or the one journal in the directory source.
    Raises ValueError when there is none, or several (runs that died in one report directory)."""
    source = Path(source)
    if source.is_file():
        return source
    if not source.is_dir():
        raise ValueError(f"{source} is neither a report directory nor a journal")
    found = journal.find(source)
    if not found:
        raise ValueError(f"{source} holds no journal of a run ({journal.PREFIX}*{journal.SUFFIX}): "
                         "every run that used it ended and wrote its reports")
    if len(found) > 1:
        raise ValueError(f"{source} holds the journals of {len(found)} runs that died: name the one to "
                         f"rebuild from ({', '.join(p.name for p in found)})")
    return found[0]


def rebuild(source: Path, watchdog_file: Path | None = None) -> tuple[dict, str, Path]:
    """Write the reports of a run that died from the journal it left (source: the journal, or the
    report directory that holds it) into the journal's directory; return (the run report, why the
    run is incomplete, that directory). In a serial run the test that was running is a crash, or a
    timeout when the watchdog's file (containment.py) says the watchdog ended the process during
    it. Under xdist the tests ran in workers and the controller died: the tests that were running
    are named, and left unfinished. Raises OSError or ValueError when there is no journal."""
    path = journal_of(source)
    record = journal.read(path)
    phases, running = record.phases, record.running
    where = ", ".join(f"{nodeid} (in its {phase})" for nodeid, phase in running.items())
    if running and record.meta.get("xdist"):
        reason = (f"the run's controller process died (SIGKILL, the OOM killer) while {len(running)} "
                  f"test(s) were running in its workers: {where}")
    elif running:
        (nodeid, phase), = list(running.items())[-1:]
        stacks = _watchdog_stacks(watchdog_file, nodeid)
        if stacks is not None:
            reason = (f"the run stopped while {nodeid} was running (in its {phase}): it ran past its "
                      "timeout and the watchdog ended the process (a hang in native code)")
        else:
            reason = (f"the run stopped while {nodeid} was running (in its {phase}): its process died "
                      "(a segfault, os._exit, SIGKILL or the OOM killer)")
        # its own outcome, like a test whose xdist worker died
        message = reason + (f"\n{stacks}" if stacks else "")
        phases.setdefault(nodeid, {})["???"] = {"outcome": TIMEOUT if stacks is not None else CRASH,
                                                "message": message, "summary": reason, "duration": 0.0}
    else:
        reason = "the run stopped between tests, before it wrote its reports (its process died)"
    run = assemble(record.meta, phases, record.props, record.reruns, [reason], None,
                   record.meta.get("collected", 0))
    write_run(run, path.parent)
    return run, reason, path.parent


def _watchdog_stacks(path: Path | None, running: str | None) -> str | None:
    """The stacks the watchdog dumped while running was running, or None if it did not fire."""
    if path is None or running is None or not Path(path).is_file():
        return None
    first, _, stacks = Path(path).read_text(encoding="utf-8", errors="replace").partition("\n")
    return stacks.strip() if first == running and "Timeout (" in stacks else None
