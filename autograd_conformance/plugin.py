"""The pytest plugin: ``--backend``, ``--device``, the ``B`` and ``device`` fixtures, claim
markers, the *not applicable* outcome, and failure messages that say how to rerun a case.

It is not auto-loaded: installing the package changes no other pytest run in the environment
(no options, fixtures, Hypothesis profile, timeout or engine import there; the package's only
``pytest11`` entry point, ``autoload.py``, is dormant outside a checkout of this project). It is
loaded where a conformance run asks for it: by the checkout's root ``conftest.py``, by ``-p autograd_conformance.plugin``
(``pytest -p autograd_conformance.plugin --pyargs autograd_conformance.suites --backend NAME``), or
by the ``autograd-conformance`` command, which runs exactly that (``autograd_conformance.cli``).
It brings the report writer and the ``--benchmarks`` option with it (``pytest_plugins`` below).
"""

from __future__ import annotations

import copy
import os
import random
import shlex
import signal
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from autograd_conformance import expectations, fashionmnist, outcomes
from autograd_conformance.claims import CLAIMS
from autograd_conformance.outcomes import LARGE, NA, NA_PROPERTY, TOO_LARGE_PROPERTY
from autograd_conformance.adapter import Adapter
from autograd_conformance.protocol import Capability, Unsupported
from autograd_conformance.registry import BUILTIN, BackendError, load_backend

pytest_plugins = ["autograd_conformance.containment", "autograd_conformance.report.collect",
                  "autograd_conformance.benchmarks.hooks"]

DEFAULT_TIMEOUT = 120.0  # seconds per test unless --timeout, PYTEST_TIMEOUT or ini timeout is given
SEED = 0

# Hypothesis profiles for the property suites; --hypothesis-profile=thorough selects the long one.
_PROFILE = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.register_profile("conformance", max_examples=12, derandomize=True, **_PROFILE)
settings.register_profile("thorough", max_examples=300, **_PROFILE)
settings.load_profile("conformance")  # not Hypothesis's own "ci": ours, by its own name

backend_key = pytest.StashKey[object]()
expectations_key = pytest.StashKey[list]()
expectations_arg_key = pytest.StashKey[str | None]()  # what rerun lines pass to --expectations
paths_key = pytest.StashKey[dict]()  # nodeid -> the test file's path, for rerun lines
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
        help="TOML file of the backend's known deviations ([[expected_failure]] and "
             "[[nondeterministic]] entries with claim, reason, optional test/device/link; see "
             "README 'Expectation files'). Default: the file a built-in backend ships "
             "(autograd_conformance/backends/NAME_expectations.toml), if any; 'none' uses no file.")
    group.addoption(
        "--threads", type=int, default=1, metavar="N",
        help="intra-op threads per test process for the engine (OMP_NUM_THREADS, MKL_NUM_THREADS, "
             "torch.set_num_threads); 0 keeps the engine's default. Default: 1 (or OMP_NUM_THREADS "
             "where the environment sets it), because idle "
             "threads of a parallel engine spin and slow a run on a busy or small machine. "
             "Benchmark runs (--benchmarks) keep the engine's default unless this is given.")
    parser.addini("conformance_timeout", f"per-test timeout in seconds (default {DEFAULT_TIMEOUT:g})")


@pytest.hookimpl(tryfirst=True)  # before pytest's own implementation loads conftests from rootdir
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser,
                                  args: list[str]) -> None:
    """Choose rootdir and ini file again, now that this plugin's options are known.

    pytest chooses them (``Config.parse`` -> ``determine_setup``) before plugins add their options,
    so the value of ``--expectations FILE``, ``--report-dir DIR`` or ``--fashionmnist-root DIR``
    (also any other plugin's) is taken for a test path then: an existing path outside the checkout
    moves rootdir there, and pyproject.toml's testpaths and addopts are lost. Here
    ``known_args_namespace.file_or_dir`` holds the real test paths; when they lead to another
    rootdir or ini file, switch to it as ``parse`` would have. (``--opt=VALUE`` never misleads
    pytest: a word starting with '-' is not a path.) Not redone for the new ini file: its
    ``-p`` plugins, ``pythonpath``, ``minversion`` and ``required_plugins``.
    """
    from _pytest.config.findpaths import determine_setup, parse_override_ini
    ns = early_config.known_args_namespace
    rootpath, inipath, inicfg, _ = determine_setup(
        inifile=ns.inifilename, override_ini=ns.override_ini, args=ns.file_or_dir,
        rootdir_cmd_arg=ns.rootdir or None, invocation_dir=early_config.invocation_params.dir)
    if (rootpath, inipath) == (early_config.rootpath, early_config.inipath):
        return  # the usual case: nothing was mistaken for a path
    old_addopts = list(early_config.getini("addopts"))
    if old_addopts and args[:len(old_addopts)] == old_addopts:
        del args[:len(old_addopts)]  # the wrong ini file's addopts, prepended by parse
    early_config._rootpath, early_config._inipath, early_config._inicfg = rootpath, inipath, inicfg
    early_config._inicache.clear()
    parser.extra_info.update(rootdir=str(rootpath), inifile=str(inipath))
    args[:] = list(early_config.getini("addopts")) + args  # the same list parse() goes on with
    ns = early_config.known_args_namespace = parser.parse_known_args(
        args, namespace=copy.copy(early_config.option))
    early_config._inicfg.update(parse_override_ini(ns.override_ini))  # -o in addopts, as parse does
    early_config._inicache.clear()
    if ns.confcutdir is None:  # chosen by parse from the wrong rootdir: choose it again
        ns.confcutdir = str(inipath.parent if inipath is not None else rootpath)


@pytest.hookimpl(tryfirst=True)  # before pytest-timeout reads its settings
def pytest_configure(config: pytest.Config) -> None:
    if config.getvalue("timeout") is None and not os.environ.get("PYTEST_TIMEOUT") \
            and not config.getini("timeout"):
        config.option.timeout = float(config.getini("conformance_timeout") or DEFAULT_TIMEOUT)
    config.addinivalue_line(
        "markers", "claim(id): the seed claim (autograd_conformance.claims) this test checks")
    config.addinivalue_line(
        "markers", "requires(*capabilities): capabilities this test needs beyond its claim's")
    config.addinivalue_line(
        "markers", "workload(multiply_adds): the size of the test's largest forward pass, compared "
                   "with the backend's max_workload")
    _limit_threads(config)
    _check_options(config)
    name = config.getoption("backend")
    try:
        backend = load_backend(name)
    except BackendError as exc:
        raise pytest.UsageError(f"--backend {name}: {exc}") from None
    config.stash[backend_key] = backend
    config.stash[devices_key] = _parse_devices(config.getoption("device"), backend)
    path, config.stash[expectations_arg_key] = _expectations_file(config)
    try:
        config.stash[expectations_key] = expectations.load(path) if path else []
    except expectations.ExpectationsError as exc:
        raise pytest.UsageError(f"--expectations: {exc}") from None
    _terminate_as_interrupt(config)
    from autograd_conformance.benchmarks.hooks import run_key
    config.stash[run_key] = (backend, config.stash[devices_key])  # for the benchmarks' JSON
    if not hasattr(config, "workerinput") and not config.getoption("benchmarks", False):
        # the xdist controller writes the reports; a benchmark run checks no claim and writes none
        from autograd_conformance.report.collect import ReportPlugin
        writer = ReportPlugin(config, backend, config.stash[devices_key], rerun_command)
        problem = writer.check_writable()
        if problem:
            raise pytest.UsageError(f"--report-dir {config.getoption('report_dir')}: {problem}. Give a "
                                    "directory this run can create and write, or --no-report.")
        config.pluginmanager.register(writer, ReportPlugin.name)


def _terminate_as_interrupt(config: pytest.Config) -> None:
    """SIGTERM (a CI job's cancel or time limit) ends the run as Ctrl-C does: pytest stops, and the
    reports are written, marked incomplete. The previous handler comes back at unconfigure."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    config.add_cleanup(lambda: signal.signal(signal.SIGTERM, previous))


def _check_options(config: pytest.Config) -> None:
    """Bad option values are usage errors that say what to give instead, before anything runs."""
    profile = config.getoption("hypothesis_profile", None)
    if profile is not None and profile not in settings._profiles:
        raise pytest.UsageError(f"--hypothesis-profile {profile}: no such Hypothesis profile. The suite's "
                                f"profiles: conformance (the default), thorough; registered: {', '.join(sorted(settings._profiles))}")
    timeout = config.getoption("timeout", None)
    if timeout is not None and float(timeout) < 0:
        raise pytest.UsageError(f"--timeout {timeout}: give a number of seconds >= 0 (0 switches the "
                                "per-test timeout off)")
    root = config.getoption("fashionmnist_root")
    if root is not None:
        problem = fashionmnist.check_root(Path(root).expanduser())
        if problem:
            raise pytest.UsageError(f"--fashionmnist-root {root}: {problem}. Point it at the directory that "
                                    "holds FashionMNIST/raw/ (train- and t10k- images and labels), or leave "
                                    "it out to use the suite's small dataset in the same format.")


def _limit_threads(config: pytest.Config) -> None:
    """--threads: set before the engine is imported (and inherited by xdist workers). Without the
    option, an OMP_NUM_THREADS already in the environment is the user's choice and stays."""
    threads = config.getoption("threads")
    if threads < 0:
        raise pytest.UsageError(f"--threads {threads}: give a number of threads >= 1, or 0 for the "
                                "engine's default")
    given = any(a == "--threads" or a.startswith("--threads=") for a in config.invocation_params.args)
    if threads == 0 or (not given and (config.getoption("benchmarks", False) or "OMP_NUM_THREADS" in os.environ)):
        return
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)
    if "torch" in sys.modules:  # imported before us: the variables came too late for it
        sys.modules["torch"].set_num_threads(threads)


def _expectations_file(config: pytest.Config) -> tuple[str | None, str | None]:
    """(file to load, value for --expectations in rerun lines): --expectations FILE, or else the
    file a built-in backend ships; --expectations none turns that off."""
    given = config.getoption("expectations")
    name = config.getoption("backend")
    shipped = None
    if name in BUILTIN:
        from autograd_conformance import backends
        candidate = Path(backends.__file__).with_name(f"{name}_expectations.toml")
        shipped = candidate if candidate.is_file() else None
    if given is not None and given.strip().lower() == "none":
        return None, "none" if shipped else None
    if given is not None:
        return given, given
    if shipped is None:
        return None, None
    here = config.invocation_params.dir
    return str(shipped), os.path.relpath(shipped, here) if shipped.is_relative_to(here) else str(shipped)


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
    return Adapter(backend)


@pytest.fixture
def rng() -> np.random.Generator:
    """The test's own random generator, the same in every run: no test order and no other plugin
    (pytest-randomly reseeds numpy's global generator before each test) changes what it draws."""
    return np.random.default_rng(SEED)


def declared(backend) -> frozenset[Capability]:
    """The backend's capabilities as Capability members (an adapter may declare plain strings)."""
    return frozenset(Capability(getattr(c, "value", c)) for c in backend.capabilities)


def claim_of(item: pytest.Item):
    marker = item.get_closest_marker("claim")
    return marker.args[0] if marker and marker.args else None


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselection: expectations see every collected test
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _apply_expectations(config, items)
    config.stash[paths_key] = {item.nodeid: Path(item.path) for item in items}
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
    """Mark the tests an expectation entry matches (the most specific entry wins) and record the
    entry's kind as the item property 'expectation' (junit XML and the reports read it)."""
    entries = config.stash[expectations_key]
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
    if any("::" in arg for arg in config.args):
        return  # node ids select single tests: other tests of their files are not collected
    devices = [*config.stash[backend_key].available_devices(), *config.stash[devices_key]]
    collected_files = {expectations.item_key(i).split("::")[0] for i in items}
    stale = [e for e in entries if e.test and e.test.split("::")[0] in collected_files
             and not any((e.claim, n) in names for n in expectations.device_free_names(e.test, devices))]
    if stale:
        raise pytest.UsageError(
            f"--expectations {config.stash[expectations_arg_key]}: entries that match no test: "
            + "; ".join(e.describe() for e in stale) + ". Fix the test name (a "
            "parametrized test is '<file>::<function>[<id>]', with pytest's id of the variant "
            "without the device part) or remove the entry.")


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
    lacking = [c.value for c in required_capabilities(item) if c not in declared(backend)]
    if lacking:
        reason = f"backend lacks {', '.join(lacking)}"
        item.user_properties.append((NA_PROPERTY, reason))
        pytest.skip(f"{NA}: {reason} (needed by {cid or item.name})")
    marker = item.get_closest_marker("workload")
    limit = getattr(backend, "max_workload", None)
    if marker and limit is not None and marker.args[0] > limit:
        reason = f"workload of {marker.args[0]:,} multiply-adds > the backend's max_workload {limit:,}"
        item.user_properties.append((TOO_LARGE_PROPERTY, reason))
        pytest.skip(f"{LARGE}: {reason}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if call.excinfo is not None and call.excinfo.errisinstance(Unsupported):
        reason = f"backend lacks {call.excinfo.value.operation}"
        report.user_properties.append((NA_PROPERTY, reason))
        item.user_properties.append((NA_PROPERTY, reason))  # junit writes the teardown report's
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {NA}: {reason}")
    if call.when == "call":  # failed tests' frames (huge graphs, after a MemoryError) go now
        sys.last_type = sys.last_value = sys.last_traceback = None
        if hasattr(sys, "last_exc"):
            sys.last_exc = None
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


def rerun_command(config: pytest.Config, nodeid: str, device: str | None, *more: str) -> str:
    """A command that reruns the test nodeid (and the tests in more) as this run ran them, from
    the directory the run started in: a test as a path from there in a checkout; from an installed
    copy (the test file outside that directory, say in site-packages) by its absolute path, with
    the plugin named."""
    here = config.invocation_params.dir.resolve()
    targets, outside = [], False
    for test in (nodeid, *more):
        file, sep, rest = test.partition("::")
        path = config.stash.get(paths_key, {}).get(test, config.rootpath / file).resolve()
        outside = outside or not path.is_relative_to(here)
        targets.append((os.path.relpath(path, here) if path.is_relative_to(here) else str(path)) + sep + rest)
    args = ["pytest", "-p", "autograd_conformance.plugin"] if outside else ["pytest"]
    args += ["--backend", config.getoption("backend")]
    if device:
        args += ["--device", device]
    if config.stash.get(expectations_arg_key, None):  # the file in use, or 'none' if turned off
        args += ["--expectations", config.stash[expectations_arg_key]]
    return " ".join(shlex.quote(a) for a in args + targets)


def pytest_report_teststatus(report, config):
    if outcomes.is_nondeterministic(report):
        return outcomes.NONDET, "~", "NONDETERMINISTIC"
    kind = outcomes.skip_kind(report)
    if kind is not None:
        return kind[0], "n" if kind[0] == NA else "L", kind[0].upper()
    if report.failed and outcomes.classify(report) in (outcomes.TIMEOUT, outcomes.CRASH):
        return "failed", "T" if outcomes.classify(report) == outcomes.TIMEOUT else "C", outcomes.classify(report).upper()
    return None


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Per device: how many claims hold, fail, crash, time out, do not apply...: each claim counted
    once, under the worst outcome of its tests there (outcomes.py), as in the reports."""
    backend = config.stash.get(backend_key, None)
    if backend is None:
        return
    worst: dict[str, dict[str, str]] = {}  # device -> claim -> outcome
    missing: dict[str, set] = {}  # "not applicable, backend lacks X" -> claims
    for reports in terminalreporter.stats.values():
        for report in reports:
            props = outcomes.properties(report)
            outcome = outcomes.classify(report) if "claim" in props and hasattr(report, "when") else None
            if outcome is None:
                continue
            by_claim = worst.setdefault(props.get("device", "-"), {})
            by_claim[props["claim"]] = outcomes.worst([outcome, by_claim.get(props["claim"], outcome)])
            kind = outcomes.skip_kind(report)
            if kind is not None:
                missing.setdefault(f"{kind[0]}, {kind[1]}", set()).add(props["claim"])
    if not worst:
        return
    terminalreporter.section(f"conformance: backend {backend.name} {backend.version}")
    for device, by_claim in sorted(worst.items()):
        counts = {o: sorted(c for c, w in by_claim.items() if w == o) for o in outcomes.OUTCOMES}
        held, failed = counts.pop(outcomes.PASS), counts.pop(outcomes.FAIL)
        parts = [f"{len(held)} claims hold", f"{len(failed)} fail"]
        parts += [f"{len(claims)} {o}" for o, claims in counts.items() if claims]
        terminalreporter.write_line(f"{device}: " + ", ".join(parts))
        for o in (outcomes.FAIL, outcomes.CRASH, outcomes.TIMEOUT, outcomes.ERROR, outcomes.XPASS):
            for cid in (failed if o == outcomes.FAIL else counts.get(o, [])):
                statement = CLAIMS[cid].statement if cid in CLAIMS else ""
                terminalreporter.write_line(f"  {outcomes.LABEL[o].upper()} claim {cid}: {statement}")
    for reason, claims in sorted(missing.items()):
        terminalreporter.write_line(f"{reason}: {', '.join(sorted(claims))}")
