"""The outcome model: what one conformance test can come to, how outcomes rank, and how a pytest
test report is classified. The terminal summary, the reports and the project's own tests all use
this module, so that they always agree.

Why a test did not run or did not finish travels as data, in the report's ``user_properties``
(and so in junit XML's ``<properties>``), never as text parsed back out of a message:

- ``not_applicable``: the backend lacks a capability or an operation the test uses;
- ``too_large``: the test's workload exceeds the backend's ``max_workload``;
- ``timeout``: the test ran past its timeout (stopped by the timer, or its process killed by the
  watchdog, ``containment.py``);
- ``out_of_resources``: the test ran out of memory or stack (MemoryError, RecursionError) in the
  engine or the test: the machine's limit, not a verdict on the claim (containment.py);
- ``crash``: the process running the test died (an xdist worker, or a serial run rebuilt from its
  record);
- ``blocked``: the test failed, and a prerequisite it relies on (an operation it calls beyond its
  claim, checked by a claim of its own) fails on this backend and device: the prerequisite's claim;
- ``adapter_error``: the adapter broke its contract in this test (``AdapterError``): the method;
- ``expectation``: the kind of expectation-file entry that matched the test.

A claim's outcome on a device (``claim_outcome``) is the worst of its tests' outcomes, except that a
claim is never *pass* while some of its tests did not run: it is then *partly checked*, and its
counts (``claim_counts``) say how many tests ran, passed, failed, were blocked or did not apply.
"""

from __future__ import annotations

PASS, FAIL, TIMEOUT, ERROR = "pass", "fail", "timeout", "error"
CRASH = "crash"  # the process running the test died: not a verdict on the claim
EXHAUSTED = "out of resources"  # MemoryError or RecursionError: not a verdict on the claim
XFAIL, XPASS, SKIP = "expected failure", "unexpected pass", "skipped"
NA = "not applicable"  # the backend lacks what the test observes or calls
LARGE = "too large"  # the test's workload exceeds the backend's declared max_workload
NONDET = "nondeterministic"  # a [[nondeterministic]] expectation's test, failed or passed
BLOCKED = "blocked"  # failed where a prerequisite's own claim fails: not a verdict on this claim
ADAPTER_ERROR = "adapter error"  # the adapter broke its contract: not a verdict on the claim
PARTIAL = "partly checked"  # a claim's outcome only: some tests passed, others did not run

# Worst first: a claim's outcome on a device is the worst of its tests' (see claim_outcome).
OUTCOMES = (FAIL, ADAPTER_ERROR, CRASH, TIMEOUT, EXHAUSTED, ERROR, XPASS, XFAIL, NONDET, PARTIAL, BLOCKED, LARGE,
            PASS, SKIP, NA)
BAD = (FAIL, ADAPTER_ERROR, CRASH, TIMEOUT, EXHAUSTED, ERROR, XPASS)  # outcomes that make a run fail
CHECKED = (PASS, FAIL, XFAIL, XPASS, NONDET)  # tests that reached a verdict on their claim
NOT_RUN = (BLOCKED, LARGE, SKIP, NA)  # tests that did not check their claim
RANK = {o: i for i, o in enumerate(OUTCOMES)}
SYMBOL = {PASS: "✅", FAIL: "❌", ADAPTER_ERROR: "🔧", CRASH: "☠️", TIMEOUT: "⏱️", EXHAUSTED: "🪫", ERROR: "💥", XPASS: "❗",
          XFAIL: "🔸", NONDET: "🎲", PARTIAL: "🌗", BLOCKED: "⛓️", LARGE: "🐘", SKIP: "⏭️", NA: "➖"}
LABEL = {PASS: "pass", FAIL: "FAIL", ADAPTER_ERROR: "adapter error", CRASH: "crash", TIMEOUT: "timeout",
         EXHAUSTED: "out of resources", ERROR: "error", XPASS: "xpass", XFAIL: "xfail", NONDET: "nondet", PARTIAL: "partly checked",
         BLOCKED: "blocked", LARGE: "too large", SKIP: "skip", NA: "n/a"}

# user_properties names (see the module docstring)
NA_PROPERTY, TOO_LARGE_PROPERTY = "not_applicable", "too_large"
TIMEOUT_PROPERTY, CRASH_PROPERTY, EXPECTATION_PROPERTY = "timeout", "crash", "expectation"
BLOCKED_PROPERTY, ADAPTER_ERROR_PROPERTY = "blocked", "adapter_error"
EXHAUSTED_PROPERTY = "out_of_resources"


def worst(outcomes) -> str:
    return min(outcomes, key=RANK.__getitem__)


def claim_outcome(test_outcomes) -> str:
    """A claim's outcome on one device from its tests' outcomes there: the worst, except that a
    claim some of whose tests passed while others did not run (not applicable, blocked, too large,
    skipped) is *partly checked*, never a plain pass."""
    found = list(test_outcomes)
    if PASS in found and all(o == PASS or o in NOT_RUN for o in found) and any(o in NOT_RUN for o in found):
        return PARTIAL
    return worst(found)


def claim_counts(test_outcomes) -> dict[str, int]:
    """{"tests": how many, "ran": how many reached a verdict (CHECKED), then each test outcome:
    how many}, for a claim's tests on one device."""
    found = list(test_outcomes)
    counts = {"tests": len(found), "ran": sum(o in CHECKED for o in found)}
    counts.update({o: found.count(o) for o in OUTCOMES if o != PARTIAL})
    return counts


def properties(report) -> dict:
    return dict(getattr(report, "user_properties", ()))


def classify(report) -> str | None:
    """The outcome one phase report (setup, call, teardown, or xdist's "???" for a test whose
    worker died) implies; None for a setup or teardown that passed."""
    props = properties(report)
    if report.failed and TIMEOUT_PROPERTY in props:
        return TIMEOUT
    if report.failed and EXHAUSTED_PROPERTY in props:
        return EXHAUSTED
    if report.failed and ADAPTER_ERROR_PROPERTY in props:
        return ADAPTER_ERROR
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
    """(NA, LARGE or BLOCKED, reason) for a report of a test that did not run, or did not reach a
    verdict, for one of those reasons; None otherwise."""
    if not report.skipped:
        return None
    props = properties(report)
    for key, kind in ((BLOCKED_PROPERTY, BLOCKED), (NA_PROPERTY, NA), (TOO_LARGE_PROPERTY, LARGE)):
        if key in props:
            return kind, props[key]
    return None
