"""The outcome model: what one conformance test can come to, how outcomes rank, and how a pytest
test report is classified. The terminal summary, the reports and the project's own tests all use
this module, so that they always agree.

Why a test did not run or did not finish travels as data, in the report's ``user_properties``
(and so in junit XML's ``<properties>``), never as text parsed back out of a message:

- ``not_applicable``: the backend lacks a capability or an operation the test uses;
- ``too_large``: the test's workload exceeds the backend's ``max_workload``;
- ``timeout``: the test ran past its timeout (stopped by the timer, or its process killed by the
  watchdog, ``containment.py``);
- ``crash``: the process running the test died (an xdist worker, or a serial run rebuilt from its
  record);
- ``expectation``: the kind of expectation-file entry that matched the test.
"""

from __future__ import annotations

PASS, FAIL, TIMEOUT, ERROR = "pass", "fail", "timeout", "error"
CRASH = "crash"  # the process running the test died: not a verdict on the claim
XFAIL, XPASS, SKIP = "expected failure", "unexpected pass", "skipped"
NA = "not applicable"  # the backend lacks what the test observes or calls
LARGE = "too large"  # the test's workload exceeds the backend's declared max_workload
NONDET = "nondeterministic"  # a [[nondeterministic]] expectation's test, failed or passed

# Worst first: a claim's outcome on a device is the worst of its tests'. "too large" outranks
# pass: the claim was not checked at the seeds' size.
OUTCOMES = (FAIL, CRASH, TIMEOUT, ERROR, XPASS, XFAIL, NONDET, LARGE, PASS, SKIP, NA)
BAD = (FAIL, CRASH, TIMEOUT, ERROR, XPASS)  # outcomes that make a run fail
RANK = {o: i for i, o in enumerate(OUTCOMES)}
SYMBOL = {PASS: "✅", FAIL: "❌", CRASH: "☠️", TIMEOUT: "⏱️", ERROR: "💥", XPASS: "❗", XFAIL: "🔸",
          NONDET: "🎲", LARGE: "🐘", SKIP: "⏭️", NA: "➖"}
LABEL = {PASS: "pass", FAIL: "FAIL", CRASH: "crash", TIMEOUT: "timeout", ERROR: "error", XPASS: "xpass",
         XFAIL: "xfail", NONDET: "nondet", LARGE: "too large", SKIP: "skip", NA: "n/a"}

# user_properties names (see the module docstring)
NA_PROPERTY, TOO_LARGE_PROPERTY = "not_applicable", "too_large"
TIMEOUT_PROPERTY, CRASH_PROPERTY, EXPECTATION_PROPERTY = "timeout", "crash", "expectation"


def worst(outcomes) -> str:
    return min(outcomes, key=RANK.__getitem__)


def properties(report) -> dict:
    return dict(getattr(report, "user_properties", ()))


def classify(report) -> str | None:
    """The outcome one phase report (setup, call, teardown, or xdist's "???" for a test whose
    worker died) implies; None for a setup or teardown that passed."""
    props = properties(report)
    if report.failed and TIMEOUT_PROPERTY in props:
        return TIMEOUT
    if report.when not in ("setup", "call", "teardown"):
        return CRASH
    if report.failed:
        if str(getattr(report, "longrepr", "")).startswith("[XPASS(strict)]"):
            return XPASS
        return FAIL if report.when == "call" else ERROR
    if is_nondeterministic(report):
        return NONDET
    if report.skipped:
        if hasattr(report, "wasxfail"):
            return XFAIL
        kind = skip_kind(report)
        return kind[0] if kind else SKIP
    if report.when == "call":
        return XPASS if hasattr(report, "wasxfail") else PASS
    return None


def is_nondeterministic(report) -> bool:
    """A report of a test a [[nondeterministic]] entry matched, whether it failed or passed."""
    return hasattr(report, "wasxfail") and (report.skipped or report.when == "call") and \
        properties(report).get(EXPECTATION_PROPERTY) == NONDET


def skip_kind(report) -> tuple[str, str] | None:
    """(NA or LARGE, reason) for a report of a test that did not run for one of those reasons;
    None otherwise."""
    if not report.skipped:
        return None
    props = properties(report)
    for key, kind in ((NA_PROPERTY, NA), (TOO_LARGE_PROPERTY, LARGE)):
        if key in props:
            return kind, props[key]
    return None
