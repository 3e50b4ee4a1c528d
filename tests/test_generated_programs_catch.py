"""The generated tests (suites/test_programs.py) catch faults the seeds' scenarios miss: on each
faulty backend of tests/faulty/generated.py's FIXED_SCENARIOS_MISS, the claims it targets hold when
the suite runs without suites/test_programs.py, while with it they fail (tests/test_faulty_backends.py
proves that side). With --faulty-snapshot=check, every claim holds there: every test the faulty
backend can change runs, not only its targets' (by hand: about 50 s on two cores; .ci/run runs the
targets-only form, in README command 2)."""

import pytest

from tests.conformance_run import failing_claims, run_suite
from tests.faulty import generated
from tests.test_faulty_backends import changeable_tests, claim_tests, split

pytestmark = pytest.mark.slow  # conformance runs on faulty backends: not in the fast subset (-m "not slow")

PROGRAMS = "suites/test_programs.py"
TARGETS = {cls: targets for cls, targets in generated.CASES}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("cls", generated.FIXED_SCENARIOS_MISS, ids=lambda cls: cls.__name__)
def test_the_seeds_scenarios_miss_what_generated_programs_catch(tmp_path, cls, reference_run, request):
    backend = f"tests.faulty.generated:{cls.__name__}"
    targets = set().union(*split(TARGETS[cls]))
    tests = changeable_tests(backend, targets, reference_run) if request.config.getoption("faulty_snapshot") \
        else claim_tests(targets, reference_run)
    tests = [t for t in tests if not t.startswith(PROGRAMS)]
    code, outcomes, output = run_suite(tmp_path, "--backend", backend, f"--ignore={PROGRAMS}", suites=tests)
    assert outcomes, f"the suite produced no results on {backend}:\n{output[-3000:]}"
    assert code == 0 and not failing_claims(outcomes), (
        f"{backend}: without {PROGRAMS} the suite already fails {sorted(failing_claims(outcomes))}: not a fault "
        f"only generated programs catch\n{output[-3000:]}")
