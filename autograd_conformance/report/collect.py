"""Collecting a run's results and writing its reports: the ``--report-dir``/``--no-report``
options and the ``ReportPlugin`` that ``plugin.pytest_configure`` registers in the process that
runs the session (the xdist controller).

At the end of every run (also one interrupted by Ctrl-C or SIGTERM, or one whose xdist worker
crashed: what finished is kept and the report says ``complete: false`` with the reason) it writes
to ``--report-dir`` (default ``reports`` in the invocation directory):

- ``conformance.json``: the machine-readable report (schema: ``report_schema.json``);
- ``conformance.md``: a Markdown summary for a pull-request comment or ``$GITHUB_STEP_SUMMARY``;
- ``conformance.html``: one self-contained page, the claims x device matrix.

Each finished test phase also goes to the run's journal as it comes (journal.py), and a sentinel
process (sentinel.py) rebuilds the reports from it if the run's process dies outright.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import time
from pathlib import Path

import pytest

from autograd_conformance import containment, outcomes, rerun, run
from autograd_conformance.claims import CLAIMS
from autograd_conformance.outcomes import BAD, BLOCKED, NA, NONDET, NOT_RUN, OUTCOMES, PARTIAL, PASS, XPASS
from autograd_conformance.report import journal, sentinel
from autograd_conformance.report.document import FILES, assemble, claim_results, execution_target, finished_tests
from autograd_conformance.report.write import write_run

MESSAGE_LIMIT = 4_000
WORKER_LINE = re.compile(r"\A\[gw\d+\] .* -- Python .*\n")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograd-conformance", "autograd conformance suite")
    group.addoption("--report-dir", default="reports", metavar="DIR",
                    help="directory for conformance.json/.md/.html, written at the end of "
                         "every conformance run (relative to the invocation directory). "
                         "Default: reports.")
    group.addoption("--no-report", action="store_true",
                    help="do not write the conformance reports.")



def _junit_properties(config: pytest.Config, report) -> None:
    """--junitxml writes a test's properties from its teardown report, which a test whose worker
    crashed never gets: add them to its junit case directly."""
    from _pytest.junitxml import xml_key
    xml = config.stash.get(xml_key, None)
    if xml is not None:
        case = xml.node_reporter(report)
        for name, value in report.user_properties:
            case.add_property(name, str(value))


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    text = str(longrepr[2]) if isinstance(longrepr, (tuple, list)) and len(longrepr) == 3 \
        else str(longrepr or "")
    return text.removeprefix("Skipped: ")


def _trim(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """text, cut in the middle if long: a traceback's head names the test, its tail the error."""
    if len(text) <= limit:
        return text
    head, tail = limit // 4, limit - limit // 4
    return f"{text[:head]}\n… [{len(text) - limit} characters trimmed] …\n{text[-tail:]}"


def _failure_text(report) -> str:
    if isinstance(report.longrepr, str):
        return report.longrepr
    return WORKER_LINE.sub("", report.longreprtext, count=1)  # xdist's "[gw0] linux -- ..."


def _phase(report) -> dict:
    outcome, message, summary = outcomes.classify(report), None, None
    if report.skipped:
        message = summary = getattr(report, "wasxfail", None) or _skip_reason(report)
    elif report.failed:
        text = _failure_text(report)
        crash = getattr(report.longrepr, "reprcrash", None)
        message = _trim(text)
        summary = (crash.message if crash is not None else text).strip()
    elif outcome in (XPASS, NONDET):
        message = summary = report.wasxfail or outcome
    if summary:
        summary = summary.splitlines()[0][:300]
    return {"outcome": outcome, "message": message, "summary": summary,
            "duration": report.duration}


# ------------------------------------------------------------------ the pytest plugin object
class ReportPlugin:
    """Collects every test report of the session and writes the reports at its end."""

    name = "autograd_conformance.report.writer"

    def __init__(self, config: pytest.Config) -> None:
        """What the run tests (backend, devices) is the run's (run.of(config))."""
        this = run.of(config)
        self.config, self.backend, self.devices = config, this.backend, this.devices
        self.enabled = not config.getoption("no_report", False) and not config.option.collectonly
        self.given_dir = config.getoption("report_dir", "reports")
        self.dir = Path(config.invocation_params.dir, os.path.expanduser(self.given_dir))
        self.phases: dict[str, dict[str, dict]] = {}  # nodeid -> when -> _phase()
        self.props: dict[str, dict] = {}  # nodeid -> user_properties (claim, device, backend)
        self.reruns: dict[str, str] = {}  # nodeid -> the command that reruns it
        self.journal = journal.Journal(self.dir, journal.new_run_id())  # this run's record (journal.py)
        self.problems: list[str] = []  # why the run is incomplete, besides a short count
        self.collect_errors = 0
        self.interrupted_workers: set[str] = set()
        self.worker_crashes: list[str] = []  # said only if tests are missing from the report
        self.started = time.time()
        self.collected = 0  # known here in a serial run; an xdist controller learns it at the end
        self.written: Path | None = None
        self.error: str | None = None
        self.sentinel = None  # sentinel.py's process, from the journal's first line on
        self.incomplete: str | None = None  # why the run is incomplete, for the terminal summary

    def check_writable(self) -> str | None:
        """None if the reports can be written to self.dir (it is, or can be made, a writable
        directory); else why not. Creates nothing."""
        if not self.enabled:
            return None
        if not self.given_dir.strip():
            return ("the directory is empty (the reports would land in the invocation directory): give a "
                    "directory name such as reports")
        existing = next(p for p in (self.dir, *self.dir.parents) if p.exists())
        if not existing.is_dir():
            return f"the reports cannot be written to {self.dir}: {existing} is not a directory"
        if not os.access(existing, os.W_OK | os.X_OK):
            return f"the reports cannot be written to {self.dir}: {existing} is not writable"
        for name in (*FILES, *(f"{f}.tmp" for f in FILES), self.journal.path.name):
            if (self.dir / name).exists() and not (self.dir / name).is_file():
                return (f"the reports cannot be written to {self.dir}: {self.dir / name} is in the way "
                        "(not a file)")
        return None

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected = len(session.items)
        for item in session.items:
            if item.user_properties:
                self.props[item.nodeid] = dict(item.user_properties)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids: list[str]) -> None:
        """xdist's controller collects nothing itself: each worker tells it what it collected."""
        if len(ids) > self.collected:
            self.collected = len(ids)
            if self.journal.opened:
                self.journal.collected(self.collected)

    def pytest_runtest_logstart(self, nodeid: str, location) -> None:
        """A conformance test starts: said in the journal, so that a death in its setup names it.
        (Under xdist the controller knows which tests are conformance tests from their first phase
        on: once the journal is open, every start goes in.)"""
        if not self.enabled:
            return
        props = self.props.get(nodeid, {})
        if "backend" in props and not self.journal.opened:
            self._open_journal()
        if self.journal.opened:
            self.reruns.setdefault(nodeid, rerun.command(self.config, nodeid, props.get("device")))
            self.journal.start(nodeid, props, self.reruns[nodeid])

    def _open_journal(self) -> None:
        self.journal.open(self.meta())
        self.sentinel = sentinel.start(self.journal.path, containment.watchdog_file())  # someone
        # rebuilds the reports if this process dies from here on

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.collect_errors += 1

    @pytest.hookimpl(tryfirst=True)  # before junitxml writes the case: give it its properties back
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "???" and report.nodeid in self.props:  # xdist's report of a test whose
            # worker died (containment.py said how): the test's own properties go with it
            report.user_properties = [*self.props[report.nodeid].items(), *report.user_properties]
            _junit_properties(self.config, report)
        worker = getattr(getattr(report, "node", None), "gateway", None)
        if report.when == "???" and getattr(worker, "id", None) in self.interrupted_workers:
            return  # xdist reports the test a Ctrl-C stopped as crashed: it just did not finish
        if report.user_properties:
            self.props.setdefault(report.nodeid, {}).update(dict(report.user_properties))
        phase = self.phases.setdefault(report.nodeid, {})[report.when] = _phase(report)
        props = self.props.get(report.nodeid, {})
        if report.nodeid not in self.reruns:
            self.reruns[report.nodeid] = rerun.command(self.config, report.nodeid, props.get("device"))
        if self.enabled and "backend" in props:  # a conformance test: into the journal
            if not self.journal.opened:
                self._open_journal()
            self.journal.phase(report.nodeid, report.when, phase, props, self.reruns[report.nodeid])

    def pytest_keyboard_interrupt(self, excinfo) -> None:
        if not self.interrupted_workers:  # else already said
            detail = str(excinfo.value).strip()
            self.problems.append(f"interrupted ({excinfo.typename}{': ' + detail if detail else ''})")

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        if error == "keyboard-interrupt":
            self.interrupted_workers.add(node.gateway.id)
            self.problems.append(f"interrupted on xdist worker {node.gateway.id}")
        elif error:  # a crash in a test is that test's outcome; only one outside tests leaves a gap
            self.worker_crashes.append(f"xdist worker {node.gateway.id} crashed ({error})")

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        sentinel.stop(self.sentinel)  # this process lives to the end: nothing for it to rebuild
        if not self._is_conformance_run(session, exitstatus):
            return
        report = self.build(session, int(exitstatus))
        self.incomplete = report["incomplete_reason"]
        if not self.enabled:
            return
        try:
            write_run(report, self.dir)
            self.written = self.dir
            self.journal.remove()  # the reports hold all of it now
        except Exception as exc:  # a broken report must not turn the run into an internal error
            self.error = f"could not write the conformance reports to {self.dir}: {exc!r}"
            if self.journal.opened:
                self.error += (f". The run's record is kept: python -m autograd_conformance.report rebuild "
                               f"{self.journal.path} writes them once the directory takes them")

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter) -> None:
        self._summary(terminalreporter)
        if self.written:
            where = os.path.relpath(self.written) if self.written.is_relative_to(Path.cwd()) \
                else str(self.written)
            terminalreporter.write_line(
                f"conformance reports written to {where}{os.sep}: {', '.join(FILES)}")
        if self.error:
            terminalreporter.write_line(self.error, red=True)

    def _summary(self, tr) -> None:
        """Per device, how many claims hold, fail, are partly checked, blocked, do not apply...,
        from the same per-claim results the reports hold (document.claim_results); then each
        claim that is not a plain pass, under the heading its own outcome gives it."""
        results = claim_results(finished_tests(self.phases, self.props, self.reruns), self.devices)
        if not results:
            return
        tr.section(f"conformance: backend {self.backend.name} {self.backend.version}")
        if self.incomplete:
            tr.write_line(f"INCOMPLETE RUN: {self.incomplete}; the counts below are of the tests that "
                          "finished", red=True, bold=True)
        devices = list(dict.fromkeys(r["device"] for r in results))
        for device in devices:
            here = [r for r in results if r["device"] == device]
            found = [r["outcome"] for r in here]
            parts = [f"{found.count(PASS)} claims hold", f"{found.count(outcomes.FAIL)} fail"]
            parts += [f"{found.count(o)} {o}" for o in OUTCOMES if o not in (PASS, outcomes.FAIL) and o in found]
            tr.write_line(f"{device or 'reference pipeline'}: " + ", ".join(parts))
            for r in sorted(here, key=lambda r: outcomes.RANK[r["outcome"]]):
                n = r["counts"]
                if r["outcome"] in BAD:
                    statement = CLAIMS[r["id"]].statement if r["id"] in CLAIMS else ""
                    tr.write_line(f"  {outcomes.LABEL[r['outcome']].upper()} claim {r['id']} "
                                  f"({n['tests'] - n[PASS]} of {n['tests']} tests): {statement}")
                elif r["outcome"] == BLOCKED:
                    tr.write_line(f"  blocked claim {r['id']}: {r['summary']}")
                elif r["outcome"] == PARTIAL:
                    why = sorted({t["summary"] or t["outcome"] for t in r["tests"] if t["outcome"] in NOT_RUN})
                    tr.write_line(f"  partly checked claim {r['id']}: {n['ran']} of {n['tests']} tests ran "
                                  f"({'; '.join(why)})")
            unrun: dict[str, list[str]] = {}
            for r in here:
                if r["outcome"] in (NA, outcomes.LARGE, outcomes.SKIP):
                    unrun.setdefault(r["summary"] or r["outcome"], []).append(r["id"])
            for reason, claims in sorted(unrun.items()):
                tr.write_line(f"  {reason}: {', '.join(claims)}")

    def _is_conformance_run(self, session, exitstatus) -> bool:
        if any("backend" in p for p in self.props.values()):
            return True
        if self.phases:
            return False  # tests ran, but none of them is a conformance test
        if session.items:  # collected (perhaps partly: Ctrl-C during collection), none run
            return any("B" in getattr(i, "fixturenames", ()) or i.get_closest_marker("claim")
                       for i in session.items)
        return session.testscollected > 0 or exitstatus == pytest.ExitCode.INTERRUPTED

    def build(self, session: pytest.Session, exitstatus: int) -> dict:
        reasons = list(dict.fromkeys(self.problems))
        if exitstatus == pytest.ExitCode.INTERRUPTED and not any("interrupt" in r for r in reasons):
            reasons.append("interrupted (exit status 2)")
        if self.collect_errors:
            reasons.append(f"{self.collect_errors} collection error(s)")
        run = assemble(self.meta(), self.phases, self.props, self.reruns, reasons, exitstatus,
                       collected=session.testscollected)
        if run["finished"] < run["collected"] and self.worker_crashes:
            run["incomplete_reason"] = "; ".join([run["incomplete_reason"], *self.worker_crashes])
        return run

    def meta(self) -> dict:
        """What a report says about the run besides its tests (also the journal's first line)."""
        config, backend = self.config, self.backend
        return {"backend": {"name": getattr(backend, "name", "?"),
                            "version": str(getattr(backend, "version", "?"))},
                "devices": list(self.devices),
                "target": execution_target(), "python": platform.python_version(),
                "command": shlex.join(["pytest", *config.invocation_params.args]),
                "started": self.started, "collected": self.collected,
                "xdist": config.pluginmanager.getplugin("dsession") is not None}
