"""Proof that every conformance test can fail: each faulty backend (the reference with one
behaviour broken, tests/faulty/*.py) must make exactly its expected claims fail, with no test of
those claims passing (except side effects written "~claim", which fail in some of their tests);
and every claim must be broken whole, every test of it failing, by at least one faulty backend.

Each faulty backend runs on the tests that call a method it overrides (tests/method_use.py, from
one recorded run of the reference that also proves the reference passes everything); the other
tests run the reference's own code."""

import importlib
import pkgutil

import pytest

from autograd_conformance.claims import CLAIMS
from autograd_conformance.outcomes import PASS
from tests import faulty, method_use
from tests.conformance_run import failing_claims, run_suite


def _discover():
    cases = []
    for info in pkgutil.iter_modules(faulty.__path__):
        module = importlib.import_module(f"tests.faulty.{info.name}")
        for cls, expected in getattr(module, "CASES", []):
            cases.append(pytest.param(f"tests.faulty.{info.name}:{cls.__name__}", frozenset(expected),
                                      id=cls.__name__))
    return cases


CASES = _discover()


def _tests_to_run(backend: str, expected: frozenset, reference: dict) -> list[str]:
    """The suite's tests the faulty backend can change, and every test of its expected claims;
    ["suites"] (everything) if it overrides more than methods."""
    module, _, name = backend.partition(":")
    changed = method_use.overridden(getattr(importlib.import_module(module), name))
    if changed is None:
        return ["suites"]
    claims = set().union(*_split(expected))
    return sorted(nodeid for nodeid, used in reference["used"].items()
                  if changed & set(used) or reference["claims"].get(nodeid) in claims)


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("backend", "expected"), CASES)
def test_faulty_backend_is_caught(tmp_path, backend, expected, reference_run):
    unknown = set().union(*_split(expected)) - set(CLAIMS)
    assert not unknown, f"CASES names unknown claims: {sorted(unknown)}"
    code, outcomes, output = run_suite(tmp_path, "--backend", backend,
                                       suites=_tests_to_run(backend, expected, reference_run))
    assert outcomes, f"the suite produced no results on {backend}:\n{output[-3000:]}"
    whole, side_effects = _split(expected)
    failed = failing_claims(outcomes)
    assert code == 1, f"pytest must exit 1 when claims fail, got {code}"
    assert failed == whole | side_effects, (
        f"{backend}: claims that should fail but pass: {sorted((whole | side_effects) - failed)}; "
        f"claims that fail unexpectedly: {sorted(failed - whole - side_effects)}")
    still_passing = {c: [t for t, o in outcomes[c].items() if o == PASS] for c in whole}
    still_passing = {c: t for c, t in still_passing.items() if t}
    assert not still_passing, f"{backend} breaks these claims, yet some of their tests pass: {still_passing}"


def _split(expected):
    """(claims broken whole, side-effect claims written "~id")."""
    return ({c for c in expected if not c.startswith("~")}, {c[1:] for c in expected if c.startswith("~")})


def test_every_claim_is_broken_by_some_faulty_backend():
    covered = set().union(*(_split(p.values[1])[0] for p in CASES))
    missing = sorted(set(CLAIMS) - covered)
    assert not missing, f"no faulty backend proves these claims' tests can fail: {missing}"


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
