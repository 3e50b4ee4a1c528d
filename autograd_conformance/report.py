"""Conformance reports: what every run of the suite leaves behind, and merging runs into a matrix.

At the end of every run (also one interrupted by Ctrl-C, or one whose xdist worker crashed:
what finished is kept and the report says ``complete: false`` with the reason) the pytest
process that runs the session (the xdist controller) writes to ``--report-dir`` (default
``reports`` in the invocation directory; ``--no-report`` switches this off):

- ``conformance.json``: the machine-readable report. Its JSON Schema is
  ``autograd_conformance/report_schema.json``; ``schema_version`` changes with every
  incompatible change of the format.
- ``conformance.md``: a Markdown summary for a pull-request comment or
  ``$GITHUB_STEP_SUMMARY`` (always under 65,000 characters).
- ``conformance.html``: one self-contained page, the claims x device matrix.

A test's outcome comes from its setup/call/teardown reports; a claim's outcome on a device
aggregates its tests there, the worst one winning (``OUTCOMES`` is ordered worst first).

``python -m autograd_conformance.report merge A.json B.json ... --out DIR [--readme README.md]``
merges the reports of several runs (backends, devices, machines) into one matrix.

The options are added by this module (a ``pytest11`` entry point); the writer itself is the
``ReportPlugin`` object that ``plugin.pytest_configure`` registers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import os
import platform
import re
import shlex
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

from autograd_conformance import expectations, plugin, record
from autograd_conformance.claims import CLAIMS

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("report_schema.json")
FILES = ("conformance.json", "conformance.md", "conformance.html")
MD_LIMIT = 60_000  # GitHub comments and step summaries take 65,536 characters
MESSAGE_LIMIT = 4_000

PASS, FAIL, TIMEOUT, ERROR = "pass", "fail", "timeout", "error"
CRASH = "crash"  # the process running the test died (an xdist worker): not a verdict on the claim
XFAIL, XPASS, SKIP, NA = "expected failure", "unexpected pass", "skipped", plugin.NOT_APPLICABLE
LARGE = plugin.TOO_LARGE  # the test's workload exceeds the backend's declared max_workload
NONDET = expectations.NONDETERMINISTIC  # a [[nondeterministic]] entry's test, failed or passed
# worst first; "too large" outranks pass: the claim was not checked at the seeds' size
OUTCOMES = (FAIL, CRASH, TIMEOUT, ERROR, XPASS, XFAIL, NONDET, LARGE, PASS, SKIP, NA)
BAD = (FAIL, CRASH, TIMEOUT, ERROR, XPASS)
RANK = {o: i for i, o in enumerate(OUTCOMES)}
SYMBOL = {PASS: "✅", FAIL: "❌", CRASH: "☠️", TIMEOUT: "⏱️", ERROR: "💥", XPASS: "❗", XFAIL: "🔸",
          NONDET: "🎲", LARGE: "🐘", SKIP: "⏭️", NA: "➖"}
LABEL = {PASS: "pass", FAIL: "FAIL", CRASH: "crash", TIMEOUT: "timeout", ERROR: "error", XPASS: "xpass",
         XFAIL: "xfail", NONDET: "nondet", LARGE: "too large", SKIP: "skip", NA: "n/a"}
CSS_CLASS = {o: "o-" + LABEL[o].lower().replace("/", "").replace(" ", "-") for o in OUTCOMES}
TIMEOUT_RE = re.compile(r"Timeout \(>[^)]*\) from pytest-timeout")
WORKER_LINE = re.compile(r"\A\[gw\d+\] .* -- Python .*\n")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograd-conformance", "autograd conformance suite")
    group.addoption("--report-dir", default="reports", metavar="DIR",
                    help="directory for conformance.json/.md/.html, written at the end of "
                         "every conformance run (relative to the invocation directory). "
                         "Default: reports.")
    group.addoption("--no-report", action="store_true",
                    help="do not write the conformance reports.")


# ------------------------------------------------------------------ outcomes of one test
def _classify(report) -> str | None:
    """The outcome one phase report implies; None for a setup/teardown that passed."""
    if report.when not in ("setup", "call", "teardown"):
        return CRASH  # xdist's report for a test whose worker crashed (when "???")
    if report.failed:
        text = _failure_text(report)
        if TIMEOUT_RE.search(text):
            return TIMEOUT
        if text.startswith("[XPASS(strict)]"):
            return XPASS
        return FAIL if report.when == "call" else ERROR
    if plugin.is_nondeterministic(report):  # from the item property 'expectation'
        return NONDET
    if report.skipped:
        if hasattr(report, "wasxfail"):
            return XFAIL
        kind = plugin.skip_kind(report)  # not applicable / too large, from the report's properties
        return kind[0] if kind else SKIP
    if report.when == "call":
        return XPASS if hasattr(report, "wasxfail") else PASS
    return None


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
    outcome, message, summary = _classify(report), None, None
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


def worst(outcomes) -> str:
    return min(outcomes, key=RANK.__getitem__)


# ------------------------------------------------------------------ the pytest plugin object
class ReportPlugin:
    """Collects every test report of the session and writes the reports at its end."""

    name = "autograd_conformance.report.writer"

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.enabled = not config.getoption("no_report", False) and not config.option.collectonly
        self.dir = Path(config.invocation_params.dir, config.getoption("report_dir", "reports"))
        self.phases: dict[str, dict[str, dict]] = {}  # nodeid -> when -> _phase()
        self.props: dict[str, dict] = {}  # nodeid -> user_properties (claim, device, backend)
        self.reruns: dict[str, str] = {}  # nodeid -> the command that reruns it
        self.record = record.Record(self.dir)  # every finished phase, as it comes (record.py)
        self.problems: list[str] = []  # why the run is incomplete, besides a short count
        self.collect_errors = 0
        self.interrupted_workers: set[str] = set()
        self.started = time.time()
        self.collected = 0  # known here in a serial run; an xdist controller learns it at the end
        self.written: Path | None = None
        self.error: str | None = None

    def check_writable(self) -> str | None:
        """None if the reports can be written to self.dir (it is, or can be made, a writable
        directory); else why not. Creates nothing."""
        if not self.enabled:
            return None
        existing = next(p for p in (self.dir, *self.dir.parents) if p.exists())
        if not existing.is_dir():
            return f"the reports cannot be written to {self.dir}: {existing} is not a directory"
        if not os.access(existing, os.W_OK | os.X_OK):
            return f"the reports cannot be written to {self.dir}: {existing} is not writable"
        return None

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected = len(session.items)
        for item in session.items:
            if item.user_properties:
                self.props[item.nodeid] = dict(item.user_properties)

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.collect_errors += 1

    @pytest.hookimpl(tryfirst=True)  # before junitxml writes the case: give it its properties back
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "???" and not report.user_properties and report.nodeid in self.props:
            report.user_properties = [*self.props[report.nodeid].items(), ("crash", "the worker process died")]
            _junit_properties(self.config, report)
        worker = getattr(getattr(report, "node", None), "gateway", None)
        if report.when == "???" and getattr(worker, "id", None) in self.interrupted_workers:
            return  # xdist reports the test a Ctrl-C stopped as crashed: it just did not finish
        if report.user_properties:
            self.props.setdefault(report.nodeid, {}).update(dict(report.user_properties))
        phase = self.phases.setdefault(report.nodeid, {})[report.when] = _phase(report)
        props = self.props.get(report.nodeid, {})
        rerun = self.reruns[report.nodeid] = plugin.rerun_command(self.config, report.nodeid, props.get("device"))
        if self.enabled and "backend" in props:  # a conformance test: on record
            self.record.phase(report.nodeid, report.when, phase, props, rerun, self.meta)

    def pytest_keyboard_interrupt(self, excinfo) -> None:
        if not self.interrupted_workers:  # else already said
            detail = str(excinfo.value).strip()
            self.problems.append(f"interrupted ({excinfo.typename}{': ' + detail if detail else ''})")

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        if error == "keyboard-interrupt":
            self.interrupted_workers.add(node.gateway.id)
            self.problems.append(f"interrupted on xdist worker {node.gateway.id}")
        elif error:
            self.problems.append(f"xdist worker {node.gateway.id} crashed ({error})")

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.enabled or not self._is_conformance_run(session, exitstatus):
            return
        try:
            write_run(self.build(session, int(exitstatus)), self.dir)
            self.written = self.dir
            self.record.remove()  # the reports hold all of it now
        except Exception as exc:  # a broken report must not turn the run into an internal error
            self.error = f"could not write the conformance reports to {self.dir}: {exc!r}"

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.written:
            where = os.path.relpath(self.written) if self.written.is_relative_to(Path.cwd()) \
                else str(self.written)
            terminalreporter.write_line(
                f"conformance reports written to {where}{os.sep}: {', '.join(FILES)}")
        if self.error:
            terminalreporter.write_line(self.error, red=True)

    def _is_conformance_run(self, session, exitstatus) -> bool:
        if any("backend" in p for p in self.props.values()):
            return True
        if self.phases or session.items:
            return False  # tests ran, but none of them is a conformance test
        return session.testscollected > 0 or exitstatus == pytest.ExitCode.INTERRUPTED

    def build(self, session: pytest.Session, exitstatus: int) -> dict:
        reasons = list(dict.fromkeys(self.problems))
        if exitstatus == pytest.ExitCode.INTERRUPTED and not any("interrupt" in r for r in reasons):
            reasons.append("interrupted (exit status 2)")
        if self.collect_errors:
            reasons.append(f"{self.collect_errors} collection error(s)")
        return assemble(self.meta(), self.phases, self.props, self.reruns, reasons, exitstatus,
                        collected=session.testscollected)

    def meta(self) -> dict:
        """What a report says about the run besides its tests (also the record's first line)."""
        config = self.config
        backend = config.stash.get(plugin.backend_key, None)
        return {"backend": {"name": getattr(backend, "name", "?"),
                            "version": str(getattr(backend, "version", "?"))},
                "devices": list(config.stash.get(plugin.devices_key, [])),
                "target": execution_target(), "python": platform.python_version(),
                "command": shlex.join(["pytest", *config.invocation_params.args]),
                "started": self.started, "collected": self.collected}


def assemble(meta: dict, phases: dict[str, dict[str, dict]], props: dict[str, dict],
             reruns: dict[str, str], reasons: list[str], exitstatus: int | None, collected: int) -> dict:
    """The run report (schema in report_schema.json) from the phases each test reported."""
    tests = []
    for nodeid, by_when in phases.items():
        found = [p for p in by_when.values() if p["outcome"]]
        if not found:
            continue  # started but never finished (interrupted)
        decisive = min(found, key=lambda p: RANK[p["outcome"]])
        test_props = props.get(nodeid, {})
        tests.append({
            "nodeid": nodeid, "claim": test_props.get("claim"), "device": test_props.get("device"),
            "outcome": decisive["outcome"], "summary": decisive["summary"],
            "message": decisive["message"],
            "duration": round(sum(p["duration"] for p in by_when.values()), 4),
            "rerun": reruns.get(nodeid)})
    collected = max(collected, len(phases))
    reasons = list(reasons)
    if len(tests) < collected:
        reasons.append(f"only {len(tests)} of {collected} collected tests finished")
    claims = _claim_results(tests, meta["devices"])
    return {
        "schema_version": SCHEMA_VERSION, "kind": "run",
        "suite": {"name": "autograd-conformance", "version": suite_version()},
        "backend": meta["backend"], "devices": meta["devices"], "target": meta["target"],
        "python": meta["python"], "date": utc_now(),
        "duration": round(time.time() - meta["started"], 2), "command": meta["command"],
        "complete": not reasons, "incomplete_reason": "; ".join(reasons) or None,
        "exit_status": exitstatus, "collected": collected, "finished": len(tests),
        "totals": {"tests": _count(t["outcome"] for t in tests),
                   "claims": _count(c["outcome"] for c in claims)},
        "claims": claims,
        "unclaimed": [{k: v for k, v in t.items() if k != "claim"}
                      for t in tests if not t["claim"]],
        "untested_claims": [cid for cid in CLAIMS if cid not in {c["id"] for c in claims}],
    }


def _rerun_all(tests: list[dict]) -> str | None:
    """One command for several tests: the first one's rerun command and the others' targets."""
    if not tests[0]["rerun"]:
        return None
    more = [shlex.split(t["rerun"])[-1] for t in tests[1:] if t["rerun"]]
    return " ".join([tests[0]["rerun"], *map(shlex.quote, more)])


def _claim_results(tests: list[dict], devices: list[str]) -> list[dict]:
    cells: dict[tuple, list[dict]] = {}
    for t in tests:
        if t["claim"]:
            cells.setdefault((t["claim"], t["device"]), []).append(t)
    order = {cid: i for i, cid in enumerate(CLAIMS)}
    dev_order = {d: i for i, d in enumerate(devices)}
    results = []
    for (cid, device), group in sorted(cells.items(), key=lambda kv: (
            order.get(kv[0][0], len(order)), kv[0][0], dev_order.get(kv[0][1], len(dev_order)),
            str(kv[0][1]))):
        outcome = worst(t["outcome"] for t in group)
        culprits = [t for t in group if t["outcome"] == outcome]
        first = next(t for t in group if t["outcome"] == outcome)
        claim = CLAIMS.get(cid)
        results.append({
            "id": cid, "device": device, "outcome": outcome,
            "statement": claim.statement if claim else None,
            "level": claim.level if claim else None,
            "source": list(claim.source) if claim else [],
            "seed_note": (claim.seed_note or None) if claim else None,
            "summary": first["summary"], "message": first["message"],
            "rerun": _rerun_all(culprits),
            "tests": [{k: v for k, v in t.items() if k not in ("claim", "device")} for t in group],
        })
    return results


def _count(outcomes) -> dict[str, int]:
    counts = dict.fromkeys(OUTCOMES, 0)
    for o in outcomes:
        counts[o] += 1
    return counts


def suite_version() -> str:
    try:
        return metadata.version("autograd-conformance")
    except metadata.PackageNotFoundError:
        return "unknown"


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def execution_target() -> dict:
    target = {"platform": platform.platform(), "machine": platform.machine(),
              "processor": platform.processor() or None, "cpu_count": os.cpu_count(),
              "torch": None, "cuda": None, "gpus": []}
    torch = sys.modules.get("torch")  # imported by a torch-based backend
    if torch is None and (os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/kfd")
                          or shutil.which("nvidia-smi")):
        try:  # a GPU driver is present: worth importing torch (seconds) to ask about CUDA
            import torch
        except Exception:
            torch = None
    if torch is None:  # another engine's run on a machine without GPU driver
        try:
            target["torch"] = metadata.version("torch")
        except metadata.PackageNotFoundError:
            pass
        return target
    target["torch"] = torch.__version__
    if torch.cuda.is_available():
        target["cuda"] = torch.version.cuda or torch.version.hip
        target["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return target


def write_run(run: dict, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    _write(directory / FILES[0], json.dumps(run, indent=2, ensure_ascii=False) + "\n")
    _write(directory / FILES[1], run_markdown(run))
    backend = run["backend"]
    _write(directory / FILES[2], matrix_html(
        to_matrix(run), f"Autograd conformance: {backend['name']} {backend['version']}"))


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # a second Ctrl-C never leaves half a file


# ------------------------------------------------------------------ matrices and merging
_CLAIM_KEYS = ("statement", "level", "source", "seed_note")


def to_matrix(doc: dict) -> dict:
    """A run report (or a matrix, returned as is) as a claims x columns matrix."""
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"report schema_version {doc.get('schema_version')!r} is not "
                         f"{SCHEMA_VERSION}: produced by another version of the suite")
    if doc.get("kind") == "matrix":
        return doc
    backend = doc["backend"]
    seen_devices = list(dict.fromkeys([*doc["devices"], *(c["device"] for c in doc["claims"])]))
    columns = [{"id": f"{backend['name']} {backend['version']} · {device}" if device else PIPELINE_COLUMN,
                "backend": backend["name"] if device else "torchvision",
                "version": backend["version"] if device else _version("torchvision"), "device": device,
                "suite_version": doc["suite"]["version"], "date": doc["date"],
                "python": doc["python"], "complete": doc["complete"],
                "incomplete_reason": doc["incomplete_reason"], "target": doc["target"]}
               for device in seen_devices]
    col_of = {c["device"]: c["id"] for c in columns}
    claims: dict[str, dict] = {}
    for c in doc["claims"]:
        entry = claims.setdefault(c["id"], {"id": c["id"], **{k: c[k] for k in _CLAIM_KEYS},
                                            "results": {}})
        entry["results"][col_of[c["device"]]] = {
            k: c[k] for k in ("outcome", "summary", "message", "rerun", "tests")}
    return {"schema_version": SCHEMA_VERSION, "kind": "matrix", "generated": doc["date"],
            "columns": columns, "claims": list(claims.values())}


# Claims about the reference data pipeline (level reference-pipeline) run without the engine and
# on no device: every run's results for them form one column, kept once when runs are merged.
PIPELINE_COLUMN = "reference pipeline (torchvision, DataLoader)"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "?"


def merge(docs: list[dict]) -> dict:
    columns, claims = [], {}
    for m in map(to_matrix, docs):
        rename = {}
        for col in m["columns"]:
            if col["device"] is None and any(c["id"] == col["id"] for c in columns):
                rename[col["id"]] = col["id"]  # the same reference pipeline, again
                continue
            new_id, n = col["id"], 2
            while any(c["id"] == new_id for c in columns):
                new_id, n = f"{col['id']} #{n}", n + 1
            rename[col["id"]] = new_id
            columns.append({**col, "id": new_id})
        for c in m["claims"]:
            entry = claims.setdefault(c["id"], {"id": c["id"], **{k: c[k] for k in _CLAIM_KEYS},
                                                "results": {}})
            for col_id, result in c["results"].items():
                entry["results"][rename[col_id]] = result
    columns.sort(key=lambda c: c["device"] is None)  # the reference pipeline's column last
    order = {cid: i for i, cid in enumerate(CLAIMS)}
    ordered = sorted(claims.values(), key=lambda c: order.get(c["id"], len(order)))
    return {"schema_version": SCHEMA_VERSION, "kind": "matrix", "generated": utc_now(),
            "columns": columns, "claims": ordered}


# ------------------------------------------------------------------ Markdown
def _code(text: str) -> str:
    """Inline code that survives backticks inside text."""
    fence = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if "`" in text else f"`{text}`"


def _md(text: str) -> str:
    """text with Markdown's special characters escaped (statements contain x * y)."""
    return re.sub(r"([\\`*_<>\[\]|#~])", r"\\\1", text)


def _one_line(text: str | None, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _fit(head: list[str], entries: list[str], what: str, limit: int = MD_LIMIT) -> str:
    """head + as many entries as fit under limit characters, with a note on the rest."""
    text = "\n".join(head)
    for i, entry in enumerate(entries):
        if len(text) + len(entry) + 300 > limit:
            return text + (f"\n\n_… {len(entries) - i} more {what} not shown "
                           "(see the JSON or HTML report)._\n")
        text += "\n" + entry
    return text + "\n"


def run_markdown(run: dict, limit: int = MD_LIMIT) -> str:
    backend, target = run["backend"], run["target"]
    failing = [c for c in run["claims"] if c["outcome"] in BAD]
    failing_other = [t for t in run["unclaimed"] if t["outcome"] in BAD]
    mark = "❌" if failing or failing_other else ("✅" if run["complete"] else "⚠️")
    machine = ", ".join(filter(None, [target["platform"], f"{target['cpu_count']} CPUs",
                                      *target["gpus"]]))
    head = [f"## {mark} Autograd conformance: {backend['name']} {backend['version']} "
            f"on {', '.join(run['devices']) or '-'}", "",
            f"Suite {run['suite']['version']} · {run['date']} · Python {run['python']} · "
            f"{machine}", ""]
    if not run["complete"]:
        head += [f"> ⚠️ **Incomplete run:** {run['incomplete_reason']}", ""]
    shown = [o for o in OUTCOMES if o in (PASS, FAIL) or any(
        run["totals"][k][o] for k in ("claims", "tests"))]
    head += ["| | " + " | ".join(f"{SYMBOL[o]} {o}" for o in shown) + " |",
             "|---|" + "---:|" * len(shown),
             "| claims (per device) | " + " | ".join(str(run["totals"]["claims"][o])
                                                    for o in shown) + " |",
             "| tests | " + " | ".join(str(run["totals"]["tests"][o]) for o in shown) + " |", ""]
    if not failing and not failing_other:
        head.append("No failing claims." if run["claims"] else "No claim was checked.")
        return "\n".join(head) + "\n"
    head.append(f"### Failing claims ({len(failing)})" if failing else "")
    entries = [
        f"\n**{_code(c['id'])}** on `{c['device'] or 'the reference pipeline'}`: {SYMBOL[c['outcome']]} {c['outcome']} "
        f"({c['level']})\n> {_md(_one_line(c['statement'], 600))}\n\n"
        f"Seed: {_md('; '.join(c['source'])) or '-'}  \nMessage: {_code(_one_line(c['summary']))}  \n"
        f"Rerun: {_code(c['rerun'])}" for c in failing]
    entries += [f"\n**{_code(t['nodeid'])}** (no claim): {SYMBOL[t['outcome']]} {t['outcome']}  \n"
                f"Message: {_code(_one_line(t['summary']))}  \nRerun: {_code(t['rerun'])}"
                for t in failing_other]
    return _fit(head, entries, "failures", limit)


def matrix_markdown(matrix: dict, title: str | None = "Conformance matrix",
                    limit: int = MD_LIMIT) -> str:
    cols = matrix["columns"]
    head = [f"### {title}", ""] if title else []
    head += [f"_{len(cols)} column(s), generated {matrix['generated']} by "
             "`python -m autograd_conformance.report merge`._", ""]
    header = " | ".join(f"{c['backend']} {c['version']}<br>{c['device'] or 'reference pipeline'}"
                        + ("" if c["complete"] else " ⚠️") for c in cols)
    head += [f"| Claim | {header} |", "|---|" + ":-:|" * len(cols)]
    rows, area = [], None
    for c in matrix["claims"]:
        if c["id"].split(".")[0] != area:
            area = c["id"].split(".")[0]
            rows.append(f"| **{area}** |" + " |" * len(cols))
        cells = [SYMBOL[c["results"][col["id"]]["outcome"]] if col["id"] in c["results"] else "·"
                 for col in cols]
        rows.append(f"| `{c['id']}` | " + " | ".join(cells) + " |")
    legend = ["", " · ".join(f"{SYMBOL[o]} {o}" for o in OUTCOMES) + " · `·` not run"]
    if any(not c["complete"] for c in cols):
        legend.append("⚠️ after a column: that run was incomplete.")
    text = _fit(head, rows, "claims", limit - 600)
    return text + "\n".join(legend) + "\n"


def update_readme(path: Path, block: str) -> bool:
    start, end = "<!-- conformance-matrix:start -->", "<!-- conformance-matrix:end -->"
    text = path.read_text(encoding="utf-8")
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        return False
    path.write_text(text[:i + len(start)] + "\n" + block.strip() + "\n" + text[j:], encoding="utf-8")
    return True


# ------------------------------------------------------------------ HTML
CSS = """
:root{--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 "Segoe UI","Liberation Sans","DejaVu Sans",Helvetica,Arial,sans-serif;
color:var(--ink);background:#fff}
header{background:#0d1117;color:#f0f6fc;padding:22px 32px 18px}
header h1{margin:0 0 4px;font-size:22px;font-weight:600}
header .meta{color:#9198a1;margin:0}
main{padding:20px 32px 48px;max-width:1400px}
h2{font-size:18px;margin:28px 0 10px;padding-bottom:6px;border-bottom:1px solid var(--line)}
code,pre{font-family:"DejaVu Sans Mono","Liberation Mono",Menlo,Consolas,monospace;font-size:12.5px}
a{color:#0969da;text-decoration:none} a:hover{text-decoration:underline}
.badges{margin-top:12px;display:flex;gap:8px;flex-wrap:wrap}
.badge{border-radius:999px;padding:2px 12px;font-weight:600;font-size:13px}
.warn{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:8px 12px;margin:12px 0}
table{border-collapse:separate;border-spacing:0}
.runs td,.runs th{padding:4px 14px 4px 0;text-align:left;vertical-align:top}
.runs th{color:var(--muted);font-weight:600}
.matrix th,.matrix td{border-bottom:1px solid var(--line);padding:5px 10px}
.matrix thead th{position:sticky;top:0;background:#fff;border-bottom:2px solid var(--ink);
text-align:center;font-weight:600;vertical-align:bottom}
.matrix thead th small{display:block;color:var(--muted);font-weight:400}
.matrix th.claim{text-align:left;font-weight:400;white-space:nowrap}
.matrix tr.area th{background:var(--bg);text-align:left;font-size:12px;letter-spacing:.06em;
text-transform:uppercase;color:var(--muted);padding-top:10px}
.matrix td.cell{text-align:center;min-width:120px;font-weight:600;font-size:12.5px;
border-left:3px solid #fff}
.matrix td.cell a{color:inherit;display:block}
.level{font-size:11.5px;color:var(--muted)}
.matrix td.statement,.matrix th.statement{font-size:12.5px;color:var(--muted);min-width:280px;
max-width:560px;text-align:left}
.legend{font-size:12px;color:var(--muted)} .legend>span{margin-right:14px;white-space:nowrap}
.pill{display:inline-block;border:1px solid var(--line);border-radius:999px;padding:0 7px;
font-size:11px;color:var(--muted);white-space:nowrap}
.o-pass{background:#dafbe1;color:#116329}.o-fail{background:#ffcecb;color:#a40e26}
.o-timeout{background:#ffd8b5;color:#953800}.o-error{background:#ffc2d5;color:#8a1045}
.o-xpass{background:#f1d8ff;color:#6e40c9}.o-xfail{background:#fff1a8;color:#7d4e00}
.o-nondet{background:#ddf4ff;color:#0550ae}.o-crash{background:#ffc2d5;color:#8a1045}.o-too-large{background:#eaeef2;color:#59636e}
.o-skip{background:#eaeef2;color:#59636e}.o-na{background:#f6f8fa;color:#8c959f}
.o-none{color:#c4ccd4}
details{border:1px solid var(--line);border-radius:6px;margin:6px 0;background:#fff}
details summary{cursor:pointer;padding:7px 12px;list-style-position:inside}
details[open] summary{border-bottom:1px solid var(--line);background:var(--bg)}
details .body{padding:4px 14px 10px}
.tag{border-radius:4px;padding:1px 7px;font-size:12px;font-weight:600;margin-right:6px}
pre{background:#0d1117;color:#e6edf3;padding:10px 12px;border-radius:6px;overflow-x:auto;
white-space:pre-wrap;word-break:break-word;max-height:420px;overflow-y:auto}
article{border-top:1px solid var(--line);padding:10px 0 6px}
article:target{background:#fff8c5;outline:6px solid #fff8c5}
article h3{font-size:15px;margin:0 0 4px}
article p{margin:4px 0}
.src,.note{color:var(--muted);font-size:13px}
ul.results{margin:6px 0 0;padding-left:18px}
"""


def _e(text) -> str:
    return html.escape(str(text if text is not None else ""))


def _tag(outcome: str) -> str:
    return f'<span class="tag {CSS_CLASS[outcome]}">{LABEL[outcome]}</span>'


def matrix_html(matrix: dict, title: str) -> str:
    cols, claims = matrix["columns"], matrix["claims"]
    counts = _count(r["outcome"] for c in claims for r in c["results"].values())
    out = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>"
           f"<meta name=viewport content='width=device-width'><style>{CSS}</style></head><body>",
           f"<header><h1>{_e(title)}</h1><p class=meta>{len(claims)} claim"
           f"{'s' * (len(claims) != 1)} · {len(cols)} backend/device column{'s' * (len(cols) != 1)}"
           f" · generated {_e(matrix['generated'])}</p><div class=badges>",
           *(f'<span class="badge {CSS_CLASS[o]}">{counts[o]} {_e(o)}</span>'
             for o in OUTCOMES if counts[o] or o in (PASS, FAIL)),
           "</div></header><main>"]
    for c in cols:
        if not c["complete"]:
            out.append(f"<div class=warn><b>Incomplete run</b> ({_e(c['id'])}): "
                       f"{_e(c['incomplete_reason'])}</div>")
    out.append("<h2>Runs</h2><table class=runs><tr><th>Column</th><th>Engine</th><th>Device</th>"
               "<th>Machine</th><th>Python</th><th>Suite</th><th>Date</th></tr>")
    for c in cols:
        t = c["target"]
        machine = ", ".join(filter(None, [t["platform"], f"{t['cpu_count']} CPUs", *t["gpus"],
                                          t["cuda"] and f"CUDA {t['cuda']}"]))
        out.append(f"<tr><td>{_e(c['id'])}</td><td>{_e(c['backend'])} {_e(c['version'])}</td>"
                   f"<td>{_e(c['device'] or 'reference pipeline')}</td><td>{_e(machine)}</td><td>{_e(c['python'])}</td>"
                   f"<td>{_e(c['suite_version'])}</td><td>{_e(c['date'])}</td></tr>")
    out.append("</table><h2>Matrix</h2><table class=matrix><thead><tr><th>Claim</th>"
               "<th class=statement>Statement</th>")
    out += [f"<th>{_e(c['backend'])}<small>{_e(c['version'])} · {_e(c['device'] or 'reference pipeline')}</small></th>"
            for c in cols]
    out.append("</tr></thead><tbody>")
    failures, area = [], None
    for c in claims:
        if c["id"].split(".")[0] != area:
            area = c["id"].split(".")[0]
            out.append(f"<tr class=area><th colspan={len(cols) + 2}>{_e(area)}</th></tr>")
        level = "" if c["level"] == "semantics" else f" <span class=pill>{_e(c['level'])}</span>"
        out.append(f"<tr><th class=claim><a href='#claim-{_e(c['id'])}'><code>{_e(c['id'])}"
                   f"</code></a></th><td class=statement>{_e(c['statement'])}{level}</td>")
        for i, col in enumerate(cols):
            r = c["results"].get(col["id"])
            if r is None:
                out.append("<td class='cell o-none' title='not run'>·</td>")
                continue
            label = LABEL[r["outcome"]]
            if r["outcome"] in BAD:
                failures.append((f"fail-{c['id']}-{i}", c, col, r))
                label = f"<a href='#fail-{_e(c['id'])}-{i}'>{label}</a>"
            out.append(f"<td class='cell {CSS_CLASS[r['outcome']]}' "
                       f"title='{_e(r['summary'] or r['outcome'])}'>{label}</td>")
        out.append("</tr>")
    out.append("</tbody></table><p class=legend>" + "".join(
        f"<span>{_tag(o)}{_e(o)}</span>" for o in OUTCOMES)
        + "<span><span class='tag o-none'>·</span>not run</span></p>")
    out.append(f"<h2>Failures ({len(failures)})</h2>" if failures else "<h2>Failures</h2><p>None.</p>")
    for anchor, c, col, r in failures:
        tests = "".join(f"<li>{_tag(t['outcome'])}<code>{_e(t['nodeid'])}</code></li>"
                        for t in r["tests"])
        out.append(f"<details id='{_e(anchor)}'><summary>{_tag(r['outcome'])}<code>{_e(c['id'])}"
                   f"</code> on {_e(col['id'])}: {_e(r['summary'])}</summary><div class=body>"
                   f"<p>{_e(c['statement'])} <a href='#claim-{_e(c['id'])}'>claim</a></p>"
                   f"<pre>{_e(r['message'])}</pre><p>Rerun: <code>{_e(r['rerun'])}</code></p>"
                   f"<ul class=results>{tests}</ul></div></details>")
    out.append("<h2>Claims</h2>")
    anchors = {(c["id"], col["id"]): anchor for anchor, c, col, _ in failures}
    for c in claims:
        results = []
        for col in cols:
            r = c["results"].get(col["id"])
            if r is None:
                continue
            name = _e(col["id"])
            if (c["id"], col["id"]) in anchors:
                name = f"<a href='#{_e(anchors[c['id'], col['id']])}'>{name}</a>"
            results.append(f"<li>{_tag(r['outcome'])}{name} "
                           f"<span class=level>({len(r['tests'])} test(s))</span></li>")
        note = f"<p class=note>Seed note: {_e(c['seed_note'])}</p>" if c["seed_note"] else ""
        out.append(f"<article id='claim-{_e(c['id'])}'><h3><code>{_e(c['id'])}</code> "
                   f"<span class=level>{_e(c['level'])}</span></h3><p>{_e(c['statement'])}</p>"
                   f"<p class=src>Seed: {_e('; '.join(c['source']))}</p>{note}"
                   f"<ul class=results>{''.join(results)}</ul></article>")
    out.append("</main></body></html>\n")
    return "\n".join(out)


# ------------------------------------------------------------------ command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograd_conformance.report")
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("merge", help="merge conformance.json files of several runs into a matrix")
    m.add_argument("reports", nargs="+", type=Path, help="conformance.json files (or matrices)")
    m.add_argument("--out", type=Path, required=True, help="directory for conformance-matrix.*")
    m.add_argument("--readme", type=Path, help="README whose conformance-matrix block to replace")
    r = sub.add_parser("rebuild", help="write the reports of a run that died from the record it left "
                                       f"(DIR/{record.NAME})")
    r.add_argument("dir", type=Path, help="the run's --report-dir")
    args = parser.parse_args(argv)
    if args.command == "rebuild":
        return rebuild(args.dir)
    try:
        matrix = merge([json.loads(p.read_text(encoding="utf-8")) for p in args.reports])
    except (OSError, ValueError, KeyError) as exc:
        print(f"merge: cannot read the reports: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    _write(args.out / "conformance-matrix.json", json.dumps(matrix, indent=2, ensure_ascii=False) + "\n")
    _write(args.out / "conformance-matrix.md", matrix_markdown(matrix))
    _write(args.out / "conformance-matrix.html", matrix_html(matrix, "Autograd conformance matrix"))
    print(f"merged {len(args.reports)} report(s), {len(matrix['columns'])} column(s) into "
          f"{args.out}{os.sep}conformance-matrix.json, .md, .html")
    if args.readme:
        if update_readme(args.readme, matrix_markdown(matrix, title=None)):
            print(f"updated the conformance matrix in {args.readme}")
        else:
            print(f"{args.readme} has no <!-- conformance-matrix:start --> ... "
                  "<!-- conformance-matrix:end --> markers: left unchanged", file=sys.stderr)
    return 0


def rebuild(directory: Path) -> int:
    try:
        meta, phases, props, reruns, running = record.read(directory / record.NAME)
    except (OSError, ValueError) as exc:
        print(f"rebuild: no record of a run to rebuild from in {directory}: {exc}", file=sys.stderr)
        return 2
    reason = (f"the run stopped while {running} was running (its process died: a segfault, "
              "os._exit, SIGKILL or the OOM killer)" if running else
              "the run stopped before it wrote its reports (its process died between tests)")
    if running:  # its own outcome, like a test whose xdist worker died
        phases[running]["???"] = {"outcome": CRASH, "message": reason, "summary": reason, "duration": 0.0}
    run = assemble(meta, phases, props, reruns, [reason], None, meta.get("collected", 0))
    write_run(run, directory)
    print(f"rebuilt {', '.join(FILES)} in {directory} from {record.NAME}: {run['finished']} finished "
          f"test(s); {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
