"""Proof that every conformance test can fail: each faulty backend (the reference with one
behaviour broken, tests/faulty/*.py) breaks the claims it targets, and every claim is broken whole
(every test of it failing) by the targets of at least one faulty backend.

A module's ``CASES`` lists each faulty backend with the claims it *targets*: "<id>" is broken whole,
"~<id>" in some of its tests only (a fault that only some program shapes show). What else a faulty
backend breaks, by side effect (a tensor subclass changes node names; a wrong gradient of ``+``
breaks every claim whose tests add tensors), is not written by hand: tests/faulty/side_effects.json
records it, and ``--faulty-snapshot`` checks or rewrites that file:

- by default each faulty backend runs on the tests of its targets' claims only (seconds for all of
  them), and must break them;
- ``--faulty-snapshot=check`` (by hand before a push, docs/writing-a-claim.md) also runs each on
  the other fixed tests it can change (tests/method_use.py: the others run the reference's own
  code) and requires the claims that fail there to be exactly its entry in side_effects.json. The
  tests over generated inputs (suites/test_programs.py, suites/test_properties.py) are left out of
  that run, but for those of prerequisite claims: a wrong operation breaks most laws over programs
  that use it, side effects the entry would only repeat, and they were two fifths of the check's
  time;
- ``--faulty-snapshot=update`` runs the same and rewrites that entry from what failed: review the
  file's diff like any change. One command regenerates it: ``pytest tests/test_faulty_backends.py
  -n 2 --faulty-snapshot=update``.
"""

import importlib
import json
import pkgutil
from pathlib import Path

import pytest
from filelock import FileLock

from autograd_conformance.claims import CLAIMS, PREREQUISITE_ORDER, known
from autograd_conformance.outcomes import PASS
from tests import faulty, method_use
from tests.conformance_run import failing_claims, run_suite

pytestmark = pytest.mark.slow  # each faulty backend is a conformance run of its own: not in the fast subset (-m "not slow")

SNAPSHOT = Path(faulty.__file__).parent / "side_effects.json"


def _discover():
    """Every faulty backend with its targets; an unknown claim id is a collection error naming the
    nearest known one."""
    cases = []
    for info in pkgutil.iter_modules(faulty.__path__):
        module = importlib.import_module(f"tests.faulty.{info.name}")
        for cls, targets in getattr(module, "CASES", []):
            name = f"tests.faulty.{info.name}:{cls.__name__}"
            for target in targets:
                known(target.removeprefix("~"), f"{name}'s targets")
            cases.append(pytest.param(name, frozenset(targets), id=cls.__name__))
    return cases


CASES = _discover()


def split(targets) -> tuple[set[str], set[str]]:
    """(claims targeted whole, claims targeted in some of their tests: written "~id")."""
    return ({c for c in targets if not c.startswith("~")}, {c[1:] for c in targets if c.startswith("~")})


def claim_tests(claims: set[str], reference: dict) -> list[str]:
    return sorted(nodeid for nodeid, cid in reference["claims"].items() if cid in claims)


def changeable_tests(backend: str, claims: set[str], reference: dict) -> list[str]:
    """The suite's tests the faulty backend can change, and every test of claims; ["suites"]
    (everything) if it overrides more than methods."""
    module, _, name = backend.partition(":")
    changed = method_use.overridden(getattr(importlib.import_module(module), name))
    if changed is None:
        return ["suites"]
    return sorted(set(claim_tests(claims, reference))
                  | {nodeid for nodeid, used in reference["used"].items() if changed & set(used)})


def _read_snapshot() -> dict[str, list[str]]:
    return json.loads(SNAPSHOT.read_text(encoding="utf-8")) if SNAPSHOT.exists() else {}


def _write_entry(backend: str, side_effects: set[str]) -> None:
    with FileLock(f"{SNAPSHOT}.lock"):  # xdist workers update one file
        snapshot = _read_snapshot()
        snapshot[backend] = sorted(side_effects)
        SNAPSHOT.write_text(json.dumps(dict(sorted(snapshot.items())), indent=1) + "\n", encoding="utf-8")


GENERATED = ("suites/test_programs.py", "suites/test_properties.py")  # tests over Hypothesis's inputs
PREREQUISITE_CLAIMS = set(PREREQUISITE_ORDER)  # every claim that checks an operation others use


def side_effect_tests(backend: str, targets: set[str], reference: dict) -> list[str]:
    """The tests the faulty backend can change, where what else it breaks shows: not its targets',
    nor the other tests over generated inputs (GENERATED), but every test of a prerequisite claim
    among them, without which a test that fails only through a broken prerequisite could not be
    found blocked (autograd_conformance.prerequisites)."""
    changeable = changeable_tests(backend, set(), reference)
    if changeable == ["suites"]:
        changeable = list(reference["claims"])
    claim_of = reference["claims"]

    def wanted(test: str) -> bool:
        if claim_of.get(test) in PREREQUISITE_CLAIMS:
            return True
        return claim_of.get(test) not in targets and not test.startswith(GENERATED)

    return sorted({t for t in changeable if wanted(t)} | set(claim_tests(targets & PREREQUISITE_CLAIMS, reference)))


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("backend", "targets"), CASES)
def test_faulty_backend_breaks_its_targets(tmp_path, backend, targets, reference_run):
    whole, partly = split(targets)
    code, outcomes, output = run_suite(tmp_path, "--backend", backend, suites=claim_tests(whole | partly, reference_run))
    assert outcomes, f"the suite produced no results on {backend}:\n{output[-3000:]}"
    assert code == 1, f"pytest must exit 1 when claims fail, got {code}"
    failed = failing_claims(outcomes)
    missed = sorted((whole | partly) - failed)
    assert not missed, f"{backend} must break its targets, yet these claims hold: {missed}"
    still_passing = {c: [t for t, o in outcomes[c].items() if o == PASS] for c in whole}
    still_passing = {c: t for c, t in still_passing.items() if t}
    assert not still_passing, f"{backend} breaks these claims whole, yet some of their tests pass: {still_passing}"


@pytest.mark.side_effects
@pytest.mark.timeout(600)
@pytest.mark.parametrize(("backend", "targets"), CASES)
def test_faulty_backend_side_effects_are_its_snapshot(tmp_path, backend, targets, reference_run, request):
    targets = set().union(*split(targets))
    tests = side_effect_tests(backend, targets, reference_run)
    side_effects = set()
    if tests:
        code, outcomes, output = run_suite(tmp_path, "--backend", backend, suites=tests)
        assert outcomes and code in (0, 1), f"the suite ran no tests or broke (exit {code}) on {backend}:\n{output[-3000:]}"
        side_effects = failing_claims(outcomes) - targets
    if request.config.getoption("faulty_snapshot") == "update":
        _write_entry(backend, side_effects)
        return
    recorded = set(_read_snapshot().get(backend, []))
    assert side_effects == recorded, (
        f"{backend} breaks besides its targets {sorted(side_effects)}; {SNAPSHOT.name} records "
        f"{sorted(recorded)}. If the change is meant, rerun with --faulty-snapshot=update and review "
        "the file's diff; new: " + ", ".join(sorted(side_effects - recorded)) + "; gone: "
        + ", ".join(sorted(recorded - side_effects)))


def test_every_claim_is_broken_whole_by_some_faulty_backends_targets():
    covered = set().union(*(split(p.values[1])[0] for p in CASES))
    missing = sorted(set(CLAIMS) - covered)
    assert not missing, f"no faulty backend targets these claims whole: {missing}"


def test_side_effect_snapshot_names_faulty_backends_and_claims(request):
    """The snapshot holds an entry for each faulty backend, and only known claims; under
    --faulty-snapshot=update the entries of faulty backends that are gone are dropped."""
    names = {p.values[0] for p in CASES}
    if request.config.getoption("faulty_snapshot") == "update":
        with FileLock(f"{SNAPSHOT}.lock"):
            kept = {k: v for k, v in _read_snapshot().items() if k in names}
            SNAPSHOT.write_text(json.dumps(kept, indent=1) + "\n", encoding="utf-8")
        return
    snapshot = _read_snapshot()
    gone = sorted(set(snapshot) - names)
    assert not gone, f"{SNAPSHOT.name} has entries for faulty backends that no CASES lists: {gone}"
    for backend, claims in snapshot.items():
        for cid in claims:
            known(cid, f"{SNAPSHOT.name}'s entry for {backend}")
    missing = sorted(names - set(snapshot))
    assert not missing, f"{SNAPSHOT.name} has no entry for {missing}: run --faulty-snapshot=update"


@pytest.mark.timeout(600)
def test_reference_backend_passes_every_claim(reference_run):
    code, outcomes = reference_run["code"], reference_run["outcomes"]
    assert code == 0, reference_run["output"]
    assert not failing_claims(outcomes)
    untested = sorted(set(CLAIMS) - set(outcomes))
    assert not untested, f"claims without a conformance test: {untested}"
    unknown = sorted(set(outcomes) - set(CLAIMS))
    assert not unknown, f"tests name claims that are not in the registry: {unknown}"
    assert len(reference_run["used"]) >= sum(len(t) for t in outcomes.values()), \
        "every test's adapter methods were recorded"


@pytest.mark.timeout(600)
def test_verdicts_do_not_depend_on_test_order_or_global_seeds(tmp_path):
    """pytest-randomly shuffles the tests and reseeds numpy's global generator before each one;
    the tests draw from their own generators (the rng fixture), so every verdict stays."""
    pytest.importorskip("pytest_randomly")
    code, outcomes, output = run_suite(tmp_path, "-p", "randomly", "--randomly-seed=2")
    assert code == 0 and not failing_claims(outcomes), output[-3000:]

