"""Containment: a test that hangs, crashes or kills its process costs that test, never the run.

- **Timeouts end the test, whatever wraps it.** Each conformance test has the suite's own timer
  over its setup, call and teardown (``--conformance-timeout``, options.timeout; default 120 s; none
  under ``--pdb``). The suite needs no timeout plugin, so installing it adds none to other
  projects' runs; where pytest-timeout is installed anyway, it keeps timing the other tests and
  leaves conformance tests to this timer. SIGALRM raises ``TestTimeout``, a BaseException, so neither
  an engine's ``except Exception`` nor Hypothesis (which replays a failing example, again and again)
  keeps it, and it is raised again every second until the test gives up. It is raised only
  while the test's own setup, call or teardown runs: between them pytest itself is at work (making
  and logging reports), where an exception would be an internal error that ends the run, so an
  expiry there waits for the next repeat. The test's outcome is *timeout* (the report property
  ``timeout``), not a failure of its claim.
- **The watchdog ends a hang in native code.** Native code that holds the GIL (a busy loop or a
  deadlock in an engine's C++) never lets a Python signal handler run. A C thread
  (``faulthandler.dump_traceback_later(exit=True)``) therefore writes every thread's stack to the
  watchdog file and ends the process ``GRACE`` seconds after the timeout.
- **Worker processes contain crashes.** Under pytest-xdist (``-n 1``, ``-n auto``: the way to run
  a new or untrusted engine), a test that kills its worker (segfault, ``os._exit``, the watchdog,
  the OOM killer) is reported as a *crash*, or a *timeout* when the watchdog's file says so, and
  xdist starts a new worker for the remaining tests. Such crashes do not count against xdist's cap
  on worker restarts (``--max-worker-restart``, meant for crashes outside tests), unless the cap was
  given on the command line. In a serial run, the dying process takes the run with it, and the
  report sentinel (report/sentinel.py) rebuilds the reports from the run's record.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from autograd_conformance import run
from autograd_conformance.outcomes import CRASH_PROPERTY, EXHAUSTED_PROPERTY, TIMEOUT_PROPERTY

GRACE = 5.0  # seconds past the timeout before the watchdog ends the process
REPEAT = 1.0  # seconds between further TestTimeout exceptions once the timeout has passed
SCRATCH = "AUTOGRAD_CONFORMANCE_SCRATCH"  # environment: the run's scratch directory (below)
SCRATCH_PREFIX = "autograd-conformance-run-"  # + the run's pid, in tempfile.gettempdir()
BENCHMARK_STORAGE_DEFAULT = "file://./.benchmarks"  # pytest-benchmark's --benchmark-storage default
_file_key = pytest.StashKey[object]()
_in_phase = False  # a test's setup, call or teardown is running: an exception there is its outcome


class TestTimeout(BaseException):
    """Raised in a conformance test that ran past its timeout."""

    __test__ = False  # not a test class, whatever its name says


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def watchdog_file(worker: str | None = None) -> Path | None:
    """The file the watchdog of worker ("main" in a serial run) writes before it ends a process."""
    directory = os.environ.get(SCRATCH)
    return Path(directory, f"{worker or _worker()}.txt") if directory else None


def start(config: pytest.Config) -> None:
    """Give the run its scratch directory: the watchdog files, and the working directory of the
    engine's import and of every conformance test (``working_directory``), so that files an engine
    writes where it runs (compile logs, caches) land there, not in the user's tree; Hypothesis's
    storage and pytest-benchmark's (in a run that benchmarks nothing) go there too. It is removed
    when the run ends; the directories of runs that were killed are removed by the next run.

    An xdist worker uses its controller's (inherited with the environment); a run of its own has
    its own, even inside another conformance run that set the variable (the project's tests do)."""
    # imports that resolve against the working directory ('' and relative entries of sys.path, an
    # adapter module beside the tests) resolve against the invocation directory, as before
    sys.path[:] = [os.path.abspath(entry) if not os.path.isabs(entry) else entry for entry in sys.path]
    if not hasattr(config, "workerinput"):
        _make_scratch(config)
    # Hypothesis keeps a cache (and a profile's default examples database) under ./.hypothesis of
    # the directory it was imported in; a conformance run's goes to the scratch directory
    from hypothesis.configuration import set_hypothesis_home_dir
    set_hypothesis_home_dir(os.path.join(os.environ[SCRATCH], "hypothesis"))
    if not config.getoption("benchmarks", False) and config.pluginmanager.has_plugin("benchmark") \
            and config.getoption("benchmark_storage", None) == BENCHMARK_STORAGE_DEFAULT:
        # pytest-benchmark, where installed, makes its storage folder at configure, also in runs that
        # benchmark nothing: a conformance run's goes to the scratch directory
        config.option.benchmark_storage = f"file://{os.environ[SCRATCH]}/benchmarks"


def _make_scratch(config: pytest.Config) -> None:
    previous = os.environ.get(SCRATCH)
    _remove_orphans()
    directory = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")
    Path(directory, "cwd").mkdir()
    os.environ[SCRATCH] = directory

    def remove():
        if previous is None:
            os.environ.pop(SCRATCH, None)
        else:
            os.environ[SCRATCH] = previous
        shutil.rmtree(directory, ignore_errors=True)

    config.add_cleanup(remove)


def _remove_orphans() -> None:
    for directory in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        pid = directory.name[len(SCRATCH_PREFIX):].partition("-")[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(directory, ignore_errors=True)
        except OSError:
            pass  # alive, under another user


@contextlib.contextmanager
def working_directory():
    """Run the body in the run's scratch working directory (where there is one), then go back."""
    directory = os.environ.get(SCRATCH)
    if directory is None or not os.path.isdir(os.path.join(directory, "cwd")):
        yield
        return
    back = os.getcwd()
    os.chdir(os.path.join(directory, "cwd"))
    try:
        yield
    finally:
        os.chdir(back)


@pytest.fixture(autouse=True)
def _engine_working_directory(request: pytest.FixtureRequest):
    """A conformance test (one that uses the backend ``B``) runs in the scratch working directory."""
    if "B" not in request.fixturenames:
        yield
        return
    with working_directory():
        yield


def _is_conformance(item: pytest.Item) -> bool:
    return any(name == "backend" for name, _ in getattr(item, "user_properties", ()))  # set by plugin.py


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """The timer and the watchdog of a conformance test, over its setup, call and teardown."""
    cancel = _set_timer(item)
    try:
        return (yield)
    finally:
        if cancel is not None:
            cancel()


def _set_timer(item: pytest.Item):
    """Arm the test's timer and watchdog; the function that disarms them, or None (no timeout)."""
    this = run.of(item.config)
    seconds = this.timeout if this is not None else 0.0
    if not seconds or not _is_conformance(item) or item.config.getoption("usepdb", False) \
            or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        return None

    def expired(signum, frame):
        if _in_phase:  # else pytest is reporting: the timer repeats, and the watchdog stays
            raise TestTimeout(f"ran longer than its timeout of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds, REPEAT)
    watch = _arm_watchdog(item.nodeid, seconds + GRACE)

    def cancel():
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if watch is not None:
            faulthandler.cancel_dump_traceback_later()
            watch.close()

    return cancel


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings) -> bool | None:
    """Where pytest-timeout is installed too, a conformance test has only the suite's timer."""
    return True if _is_conformance(item) else None


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_timeout_cancel_timer(item: pytest.Item) -> bool | None:
    return True if _is_conformance(item) else None


def _phase():
    global _in_phase
    _in_phase = True
    try:
        return (yield)
    finally:
        _in_phase = False


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item):
    return (yield from _phase())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item):
    return (yield from _phase())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    return (yield from _phase())


def _arm_watchdog(nodeid: str, seconds: float):
    """Start the watchdog; its file names the test first, then gets the stacks if it fires."""
    path = watchdog_file()
    if path is None or not path.parent.is_dir():
        return None
    watch = open(path, "w", encoding="utf-8")
    watch.write(nodeid + "\n")
    watch.flush()
    faulthandler.dump_traceback_later(seconds, exit=True, file=watch)
    return watch


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A conformance test stopped at its timeout, or by running out of memory or stack
    (MemoryError, RecursionError: the machine's limits, whether the engine or the test hit them),
    has that outcome, not a failure of its claim."""
    timed_out = call.excinfo is not None and call.excinfo.errisinstance(TestTimeout)
    if timed_out:
        signal.setitimer(signal.ITIMER_REAL, 0)  # it gave up: no more TestTimeouts (the watchdog stays)
    exhausted = call.excinfo is not None and call.excinfo.errisinstance((MemoryError, RecursionError)) \
        and _is_conformance(item)
    report = yield
    if timed_out or exhausted:
        name = TIMEOUT_PROPERTY if timed_out else EXHAUSTED_PROPERTY
        reason = str(call.excinfo.value) if timed_out else \
            f"{call.excinfo.typename}: {str(call.excinfo.value)[:200] or 'no message'}"
        report.user_properties.append((name, reason))
        item.user_properties.append((name, reason))  # junit writes the item's
    return report


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem: str, report, sched) -> None:
    """xdist (controller): the worker running crashitem died. Say how, and keep the restart."""
    worker = report.node.gateway.id
    path = watchdog_file(worker)
    text = path.read_text(encoding="utf-8", errors="replace") if path and path.is_file() else ""
    first, _, stacks = text.partition("\n")
    if first == crashitem and "Timeout (" in stacks:
        reason = "ran past its timeout; the watchdog ended its worker process (a hang in native code)"
        report.user_properties.append((TIMEOUT_PROPERTY, reason))
        report.longrepr = f"{report.longrepr}: it {reason}\n\n{stacks.strip()}"
    else:
        report.user_properties.append((CRASH_PROPERTY, f"worker {worker} died running the test"))
    if path is not None:
        path.unlink(missing_ok=True)
    _spare_the_restart_cap(report.node.config)


def _spare_the_restart_cap(config: pytest.Config) -> None:
    """A crash inside a test costs that test: raise xdist's restart cap by one for it, unless the
    user set the cap (--max-worker-restart). xdist keeps the cap in its DSession object."""
    if config.getoption("maxworkerrestart", None) is not None:
        return
    dsession = config.pluginmanager.getplugin("dsession")
    cap = getattr(dsession, "_max_worker_restart", None)
    if isinstance(cap, int):
        dsession._max_worker_restart = cap + 1


def terminate_as_interrupt(config: pytest.Config) -> None:
    """SIGTERM (a CI job's cancel or time limit) ends the run as Ctrl-C does: pytest stops, and the
    reports are written, marked incomplete. The previous handler comes back at unconfigure."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    config.add_cleanup(lambda: signal.signal(signal.SIGTERM, previous))
