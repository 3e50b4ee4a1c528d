"""The pytest plugin: ``--backend``, ``--device``, the ``B`` and ``device`` fixtures, claim
markers, the *not applicable* outcome, and failure messages that say how to rerun a case.

It is not auto-loaded: installing the package changes no other pytest run in the environment
(no options, fixtures, Hypothesis profile, timeout or engine import there; the package's only
``pytest11`` entry point, ``autoload.py``, is dormant outside a checkout of this project). It is
loaded where a conformance run asks for it: by the checkout's root ``conftest.py``, by ``-p autograd_conformance.plugin``
(``pytest -p autograd_conformance.plugin --pyargs autograd_conformance.suites --backend NAME``), or
by the ``autograd-conformance`` command, which runs exactly that (``autograd_conformance.cli``).
It builds the run (run.py: backend, devices, expectations, prerequisites) in pytest_configure, and
every part reads it from there; rerun lines come from rerun.py, the terminal summary from the
report's own per-claim results (report/collect.py). Its options are in options.py; it brings
containment (timeouts, the watchdog), the garbage
collector's policy (gc_policy.py), the report writer and the ``--benchmarks`` option with it
(``pytest_plugins`` below).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from autograd_conformance import expectations, options, outcomes, rerun, run
from autograd_conformance.contracts import RANDOM_SEED, seeded
from autograd_conformance.claims import CLAIMS, UnknownClaim, known
from autograd_conformance.options import pytest_addoption, pytest_load_initial_conftests  # noqa: F401 (hooks)
from autograd_conformance.outcomes import (ADAPTER_ERROR_PROPERTY, BLOCKED, BLOCKED_PROPERTY, LARGE, NA,
                                           NA_PROPERTY, TOO_LARGE_PROPERTY)
from autograd_conformance.prerequisites import Blocked, Prerequisites, check_declarations, prerequisites
from autograd_conformance.protocol import AdapterError, AnyOf, Capability, Unsupported, lacking
from autograd_conformance.registry import BackendError, load_backend

pytest_plugins = ["autograd_conformance.containment", "autograd_conformance.gc_policy", "autograd_conformance.profiles",
                  "autograd_conformance.report.collect", "autograd_conformance.benchmarks.hooks"]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "claim(id): the seed claim (autograd_conformance.claims) this test checks")
    config.addinivalue_line(
        "markers", "needs(*capabilities): capabilities this test needs beyond its claim's")
    config.addinivalue_line(
        "markers", "workload(multiply_adds): the size of the test's largest forward pass, compared "
                   "with the backend's max_workload")
    config.addinivalue_line(
        "markers", "optional(*capabilities): capabilities the test also observes where the backend "
                   "declares them (if Capability.X in B.capabilities), and leaves out where it does not")
    config.addinivalue_line(
        "markers", "checks(*operations): in a prerequisite claim's tests, the operations this test "
                   "checks (a test that uses one is blocked where these tests fail)")
    config.addinivalue_line(
        "markers", "programs: the test runs generated programs over every operation the engine has "
                   "(autograd_conformance.programs); those a failing program called are its prerequisites")
    config.addinivalue_line(
        "markers", "uses(*operations): operations the test calls beyond the core vocabulary and its "
                   "claim; each is checked by its own claim (claims.PREREQUISITES), and the test is "
                   "blocked, not failed, where that claim fails")
    options.limit_threads(config)
    options.check_options(config)
    from autograd_conformance import containment  # a plugin of pytest_plugins: imported by pytest
    containment.start(config)  # first, so that its asserts are rewritten
    name = config.getoption("backend")
    try:
        with containment.working_directory():  # an engine may write files where it is imported
            backend = load_backend(name)
    except BackendError as exc:
        raise pytest.UsageError(f"--backend {name}: {exc}") from None
    this = run.Run(backend, options.parse_devices(config.getoption("device"), backend), options.timeout(config))
    this.prerequisites = Prerequisites(backend, needs_of)
    path, this.expectations_arg = expectations.choose_file(config)
    try:
        this.expectations = expectations.load(path) if path else []
    except expectations.ExpectationsError as exc:
        raise pytest.UsageError(f"--expectations: {exc}") from None
    config.stash[run.KEY] = this
    containment.terminate_as_interrupt(config)
    if not hasattr(config, "workerinput") and not config.getoption("benchmarks", False):
        # the xdist controller writes the reports; a benchmark run checks no claim and writes none
        from autograd_conformance.report.collect import ReportPlugin
        writer = ReportPlugin(config)
        problem = writer.check_writable()
        if problem:
            raise pytest.UsageError(f"--report-dir {config.getoption('report_dir')}: {problem}. Give a "
                                    "directory this run can create and write, or --no-report.")
        config.pluginmanager.register(writer, ReportPlugin.name)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "device" in metafunc.fixturenames:
        devices = run.of(metafunc.config).devices
        metafunc.parametrize("device", devices, ids=devices, scope="function")


@pytest.fixture
def B(request: pytest.FixtureRequest):
    """The backend under test, with every random generator seeded for this test, seen through the
    protocol's contracts (contracts.py)."""
    return seeded(run.of(request.config).backend)


@pytest.fixture
def rng() -> np.random.Generator:
    """The test's own random generator, the same in every run: no test order and no other plugin
    (pytest-randomly reseeds numpy's global generator before each test) changes what it draws."""
    return np.random.default_rng(RANDOM_SEED)


def declared(backend) -> frozenset[Capability]:
    """The backend's capabilities as Capability members (an adapter may declare plain strings)."""
    return frozenset(Capability(getattr(c, "value", c)) for c in backend.capabilities)


def claim_of(item: pytest.Item):
    marker = item.get_closest_marker("claim")
    return marker.args[0] if marker and marker.args else None


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj):
    """A test whose claim marker names an unknown id is a collection error of its file, naming the
    nearest known id: a misspelt id never reaches a report."""
    result = yield
    for item in result if isinstance(result, list) else [result]:
        if isinstance(item, pytest.Function) and item.get_closest_marker("claim"):
            try:
                known(claim_of(item), f"{collector.nodeid}::{item.originalname}: its claim marker")
            except UnknownClaim as exc:
                raise collector.CollectError(f"{exc} (the ids are in autograd_conformance/claims.py)") from None
    return result


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselection: expectations see every collected test
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _apply_expectations(config, items)
    this = run.of(config)
    this.prerequisites.collected(items, claim_of)
    this.paths = {item.nodeid: Path(item.path) for item in items}
    backend = this.backend
    for item in items:
        cid = claim_of(item)
        if cid is None and "B" not in getattr(item, "fixturenames", ()):
            continue
        item.user_properties.append(("backend", backend.name))
        if cid is not None:
            item.user_properties.append(("claim", cid))
        device = getattr(item, "callspec", None) and item.callspec.params.get("device")
        if device:
            item.user_properties.append(("device", device))


def _apply_expectations(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests an expectation entry matches (the most specific entry wins) and record the
    entry's kind as the item property 'expectation' (junit XML and the reports read it)."""
    this = run.of(config)
    entries = this.expectations
    if not entries:
        return
    names = set()  # (claim, name) for every name an entry's test may use
    for item in items:
        device = item.callspec.params.get("device") if hasattr(item, "callspec") else None
        keys, cid = expectations.item_keys(item), claim_of(item)
        names.update((cid, k) for k in keys)
        matching = [e for e in entries if e.matches(cid, keys, device)]
        if not matching:
            continue
        entry = max(matching, key=lambda e: (bool(e.test and "[" in e.test), bool(e.test), bool(e.device)))
        strict = entry.kind == expectations.EXPECTED_FAILURE
        item.add_marker(pytest.mark.xfail(reason=f"{entry.kind}: {entry.describe()}", strict=strict))
        item.user_properties.append(("expectation", entry.kind))
    partial = any("::" in arg for arg in config.args)  # node ids: other tests of their files not collected
    devices = list(dict.fromkeys([*this.backend.available_devices(), *this.devices]))
    collected_files = {expectations.item_key(i).split("::")[0] for i in items}
    problems = expectations.unmatched(entries, names, collected_files, devices, partial)
    if problems:
        raise pytest.UsageError(
            f"--expectations {this.expectations_arg}: entries that match no test: " + "; ".join(problems)
            + ". Fix the entry (a parametrized test is '<file>::<function>[<id>]', with pytest's id "
            "of the variant without the device part) or remove it.")


def needs_of(item: pytest.Item) -> list[Capability | AnyOf]:
    needs: list[Capability | AnyOf] = []
    cid = claim_of(item)
    if cid in CLAIMS:
        needs += CLAIMS[cid].all_needs
    for marker in item.iter_markers("needs"):
        needs += [Capability(c) for c in marker.args]
    return list(dict.fromkeys(needs))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    cid = claim_of(item)
    if cid is None and "B" not in item.fixturenames:
        return
    check_declarations(item)
    backend = run.of(item.config).backend
    missing = lacking(needs_of(item), declared(backend))
    if missing:
        reason = f"backend lacks {', '.join(missing)}"
        item.user_properties.append((NA_PROPERTY, reason))
        pytest.skip(f"{NA}: {reason}")
    marker = item.get_closest_marker("workload")
    limit = getattr(backend, "max_workload", None)
    if marker and limit is not None and marker.args[0] > limit:
        reason = f"workload of {marker.args[0]:,} multiply-adds > the backend's max_workload {limit:,}"
        item.user_properties.append((TOO_LARGE_PROPERTY, reason))
        pytest.skip(f"{LARGE}: {reason}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """A conformance test that fails where a prerequisite's claim fails is blocked by it
    (prerequisites.py); the check runs here, inside the test's call and its timeout."""
    try:
        return (yield)
    except Exception as failure:
        cid = claim_of(item)
        called = getattr(getattr(item, "funcargs", {}).get("B"), "called", ())
        needed = prerequisites(item, cid, called) if cid is not None else []
        if not needed:
            raise
        params = item.callspec.params if hasattr(item, "callspec") else {}
        checks = run.of(item.config).prerequisites
        for operation, prerequisite in needed:
            why = checks.failing(prerequisite, operation, params.get("device"), params.get("dtype"))
            if why:
                raise Blocked(prerequisite, operation, why, failure) from failure
        unchecked = checks.unchecked(list(dict.fromkeys(claim for _, claim in needed)))
        if unchecked:
            failure.add_note(f"(this test relies on {', '.join(unchecked)}, whose tests this run did "
                             "not collect: run them too to tell its failure from theirs)")
        raise


def _not_run(item, report, prop: str, value: str, message: str) -> None:
    """Report a test that did not reach a verdict on its claim as skipped, with the property prop
    (junit and the reports read it) and message."""
    report.user_properties.append((prop, value))
    item.user_properties.append((prop, value))  # junit writes the teardown report's
    report.outcome = "skipped"
    if hasattr(report, "wasxfail"):
        del report.wasxfail
    report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {message}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if call.when == "call":  # failed tests' frames (huge graphs, after a MemoryError) go now
        sys.last_type = sys.last_value = sys.last_traceback = None
        if hasattr(sys, "last_exc"):
            sys.last_exc = None
    cid = claim_of(item)
    if cid is None and "B" not in getattr(item, "fixturenames", ()):
        return report  # the project's own tests, or another's: Unsupported is an error there
    if call.excinfo is not None and call.excinfo.errisinstance(Unsupported):
        reason = f"backend lacks {call.excinfo.value.operation}"
        _not_run(item, report, NA_PROPERTY, reason, f"{NA}: {reason}")
    elif call.excinfo is not None and call.excinfo.errisinstance(Blocked):
        _not_run(item, report, BLOCKED_PROPERTY, call.excinfo.value.claim, str(call.excinfo.value))
    elif call.excinfo is not None and call.excinfo.errisinstance(AdapterError) and report.failed:
        report.user_properties.append((ADAPTER_ERROR_PROPERTY, call.excinfo.value.method))
        item.user_properties.append((ADAPTER_ERROR_PROPERTY, call.excinfo.value.method))
    if report.failed:
        report.sections.append(("conformance", explain(item, cid)))
    return report


def explain(item: pytest.Item, cid: str | None) -> str:
    config = item.config
    backend = run.of(config).backend
    device = item.callspec.params.get("device") if hasattr(item, "callspec") else None
    lines = []
    if cid in CLAIMS:
        c = CLAIMS[cid]
        lines += [f"claim {c.id} ({c.level}): {c.statement}", f"source: {'; '.join(c.source)}"]
    lines.append(f"backend: {backend.name} {backend.version}" + (f", device: {device}" if device else ""))
    lines.append("rerun: " + rerun.command(config, item.nodeid, device))
    return "\n".join(lines)


def pytest_report_teststatus(report, config):
    if outcomes.is_nondeterministic(report):
        return outcomes.NONDET, "~", "NONDETERMINISTIC"
    kind = outcomes.skip_kind(report)
    if kind is not None:
        return kind[0], {NA: "n", BLOCKED: "b"}.get(kind[0], "L"), kind[0].upper()
    outcome = outcomes.classify(report) if report.failed else None
    if outcome in (outcomes.TIMEOUT, outcomes.CRASH, outcomes.ADAPTER_ERROR, outcomes.EXHAUSTED):
        letter = {outcomes.TIMEOUT: "T", outcomes.CRASH: "C", outcomes.EXHAUSTED: "R"}.get(outcome, "A")
        return "failed", letter, outcome.upper()
    return None
