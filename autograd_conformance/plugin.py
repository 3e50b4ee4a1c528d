"""The pytest plugin: ``--backend``, ``--device``, the ``B`` and ``device`` fixtures, claim
markers, the *not applicable* outcome, and failure messages that say how to rerun a case.

It is registered through the ``pytest11`` entry point, so ``pip install`` of the project makes
the options available in every pytest run of that environment. It acts only on tests that use
the ``device`` or ``B`` fixtures or carry a ``claim`` marker.
"""

from __future__ import annotations

import os
import random
import shlex

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from autograd_conformance import expectations
from autograd_conformance.claims import CLAIMS
from autograd_conformance.protocol import Capability
from autograd_conformance.registry import BackendError, load_backend

NOT_APPLICABLE = "not applicable"
DEFAULT_TIMEOUT = 120.0  # seconds per test unless --timeout, PYTEST_TIMEOUT or ini timeout is given
SEED = 0

# Hypothesis profiles for the property suites; --hypothesis-profile=thorough selects the long one.
_PROFILE = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.register_profile("ci", max_examples=12, derandomize=True, **_PROFILE)
settings.register_profile("thorough", max_examples=300, **_PROFILE)
settings.load_profile("ci")

backend_key = pytest.StashKey[object]()
expectations_key = pytest.StashKey[list]()
devices_key = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograd-conformance", "autograd conformance suite")
    group.addoption(
        "--backend", default="torch", metavar="NAME",
        help="autograd engine to test: a built-in name (torch, tinygrad, mygrad, paddle, jax), a "
             "name installed under the entry point group 'autograd_conformance.backends', or "
             "'package.module:attribute'. "
             "Default: torch.")
    group.addoption(
        "--device", default="cpu", metavar="LIST",
        help="comma-separated devices to run every conformance test on (e.g. cpu,cuda), or "
             "'all' for every device the backend has on this machine. Default: cpu.")
    group.addoption(
        "--fashionmnist-root", default=None, metavar="DIR",
        help="directory holding the real FashionMNIST (DIR/FashionMNIST/raw/*-ubyte). "
             "Default: a small dataset in the same file format, generated for the run.")
    group.addoption(
        "--expectations", default=None, metavar="FILE",
        help="TOML file of the backend's known deviations ([[expected_failure]] entries with claim, "
             "reason, optional test/device/link); matching tests report as expected failures.")
    parser.addini("conformance_timeout", f"per-test timeout in seconds (default {DEFAULT_TIMEOUT:g})")


@pytest.hookimpl(tryfirst=True)  # before pytest-timeout reads its settings
def pytest_configure(config: pytest.Config) -> None:
    if config.getvalue("timeout") is None and not os.environ.get("PYTEST_TIMEOUT") \
            and not config.getini("timeout"):
        config.option.timeout = float(config.getini("conformance_timeout") or DEFAULT_TIMEOUT)
    config.addinivalue_line(
        "markers", "claim(id): the seed claim (autograd_conformance.claims) this test checks")
    config.addinivalue_line(
        "markers", "requires(*capabilities): capabilities this test needs beyond its claim's")
    name = config.getoption("backend")
    try:
        backend = load_backend(name)
    except BackendError as exc:
        raise pytest.UsageError(f"--backend {name}: {exc}") from None
    config.stash[backend_key] = backend
    config.stash[devices_key] = _parse_devices(config.getoption("device"), backend)
    path = config.getoption("expectations")
    try:
        config.stash[expectations_key] = expectations.load(path) if path else []
    except expectations.ExpectationsError as exc:
        raise pytest.UsageError(f"--expectations: {exc}") from None
    if not hasattr(config, "workerinput"):  # the xdist controller writes the reports
        from autograd_conformance.report import ReportPlugin
        config.pluginmanager.register(ReportPlugin(config), ReportPlugin.name)


def _parse_devices(spec: str, backend) -> list[str]:
    available = list(backend.available_devices())
    if spec.strip() == "all":
        return available
    wanted = [d.strip() for d in spec.split(",") if d.strip()]
    if not wanted:
        raise pytest.UsageError("--device is empty: give devices such as 'cpu' or 'cpu,cuda', or 'all'")
    missing = [d for d in wanted if d not in available]
    if missing:
        raise pytest.UsageError(
            f"--device {spec}: {', '.join(repr(d) for d in missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not available for backend {backend.name!r} "
            f"on this machine. Available here: {', '.join(available)}. "
            "Pass one of those, or --device all.")
    return list(dict.fromkeys(wanted))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "device" in metafunc.fixturenames:
        devices = metafunc.config.stash[devices_key]
        metafunc.parametrize("device", devices, ids=devices, scope="function")


@pytest.fixture
def B(request: pytest.FixtureRequest):
    """The backend under test, with every random generator seeded for this test."""
    backend = request.config.stash[backend_key]
    random.seed(SEED)
    np.random.seed(SEED)
    backend.seed(SEED)
    return backend


def claim_of(item: pytest.Item):
    marker = item.get_closest_marker("claim")
    return marker.args[0] if marker and marker.args else None


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselection: expectations see every collected test
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _apply_expectations(config, items)
    backend = config.stash[backend_key]
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
    entries = config.stash[expectations_key]
    if not entries:
        return
    used = set()
    for item in items:
        device = item.callspec.params.get("device") if hasattr(item, "callspec") else None
        key = expectations.item_key(item)
        for entry in entries:
            if entry.matches(claim_of(item), key, device):
                used.add(entry)
                item.add_marker(pytest.mark.xfail(reason=f"expected failure: {entry.describe()}", strict=True))
                break
    collected_files = {expectations.item_key(i).split("::")[0] for i in items}
    stale = [e for e in entries if e not in used and e.test and e.test.split("::")[0] in collected_files]
    if stale:
        raise pytest.UsageError(
            f"--expectations {config.getoption('expectations')}: entries that match no test: "
            + "; ".join(e.describe() for e in stale) + ". Fix the test name or remove the entry.")


def required_capabilities(item: pytest.Item) -> list[Capability]:
    needs: list[Capability] = []
    cid = claim_of(item)
    if cid in CLAIMS:
        needs += CLAIMS[cid].required
    for marker in item.iter_markers("requires"):
        needs += [Capability(c) for c in marker.args]
    return list(dict.fromkeys(needs))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    cid = claim_of(item)
    if item.get_closest_marker("claim") and cid not in CLAIMS:
        pytest.fail(f"test names unknown claim {cid!r}: add it to autograd_conformance/claims.py "
                    "or fix the id", pytrace=False)
    if cid is None and "B" not in item.fixturenames:
        return
    backend = item.config.stash[backend_key]
    lacking = [c.value for c in required_capabilities(item) if c not in backend.capabilities]
    if lacking:
        pytest.skip(f"{NOT_APPLICABLE}: backend {backend.name!r} does not have "
                    f"{', '.join(lacking)} (needed by {cid or item.name})")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    cid = claim_of(item)
    if report.failed and (cid is not None or "B" in item.fixturenames):
        report.sections.append(("conformance", explain(item, cid)))
    return report


def explain(item: pytest.Item, cid: str | None) -> str:
    config = item.config
    backend = config.stash[backend_key]
    device = item.callspec.params.get("device") if hasattr(item, "callspec") else None
    lines = []
    if cid in CLAIMS:
        c = CLAIMS[cid]
        lines += [f"claim {c.id} ({c.level}): {c.statement}", f"source: {'; '.join(c.source)}"]
    lines.append(f"backend: {backend.name} {backend.version}" + (f", device: {device}" if device else ""))
    lines.append("rerun: " + rerun_command(config, item.nodeid, device))
    return "\n".join(lines)


def rerun_command(config: pytest.Config, nodeid: str, device: str | None) -> str:
    args = ["pytest", "--backend", config.getoption("backend")]
    if device:
        args += ["--device", device]
    return " ".join(shlex.quote(a) for a in args + [nodeid])


def _is_not_applicable(report) -> bool:
    return report.skipped and isinstance(report.longrepr, tuple) and \
        str(report.longrepr[2]).startswith(("Skipped: " + NOT_APPLICABLE, NOT_APPLICABLE))


def pytest_report_teststatus(report, config):
    if _is_not_applicable(report) and report.when == "setup":
        return NOT_APPLICABLE, "n", "NOT APPLICABLE"
    return None


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    backend = config.stash.get(backend_key, None)
    if backend is None:
        return
    per_device: dict[str, dict[str, set]] = {}
    missing: dict[str, set] = {}  # "does not have X" -> claims not applicable for that reason
    outcomes = {"passed": "passed", "failed": "failed", NOT_APPLICABLE: NOT_APPLICABLE,
                "error": "failed", "xfailed": "expected failure", "xpassed": "unexpected pass"}
    for key, outcome in outcomes.items():
        for report in terminalreporter.stats.get(key, []):
            props = dict(getattr(report, "user_properties", ()))
            if "claim" not in props:
                continue
            device = props.get("device", "-")
            per_device.setdefault(device, {}).setdefault(outcome, set()).add(props["claim"])
            if outcome == NOT_APPLICABLE:
                reason = str(report.longrepr[2]).split("does not have ", 1)[-1].split(" (needed", 1)[0]
                missing.setdefault(reason, set()).add(props["claim"])
    if not per_device:
        return
    terminalreporter.section(f"conformance: backend {backend.name} {backend.version}")
    for device, by_outcome in sorted(per_device.items()):
        failed = by_outcome.get("failed", set())
        passed = by_outcome.get("passed", set()) - failed
        parts = [f"{len(passed)} claims hold", f"{len(failed)} fail"]
        for extra in (NOT_APPLICABLE, "expected failure", "unexpected pass"):
            if by_outcome.get(extra):
                parts.append(f"{len(by_outcome[extra] - failed - passed)} {extra}")
        terminalreporter.write_line(f"{device}: " + ", ".join(parts))
        for cid in sorted(failed):
            terminalreporter.write_line(f"  FAILED claim {cid}: {CLAIMS[cid].statement if cid in CLAIMS else ''}")
    for reason, claims in sorted(missing.items()):
        terminalreporter.write_line(f"not applicable, backend lacks {reason}: {', '.join(sorted(claims))}")
