"""Each conformance test depends only on what its claim observes (the verdicts-by-construction rule),
checked on the recorded reference run, in which every adapter method each test called was noted
(tests/method_use.py): a test calls the core vocabulary (protocol.CORE_METHODS), the methods of the
capabilities its claim needs (its needs marker adds, its optional marker observes where declared)
and of their paths (protocol.METHODS,
protocol.PATHS), the operations its claim is about (claims.Claim.about) and the prerequisites it
declares (@pytest.mark.uses), each of which a claim of its own checks (claims.PREREQUISITES), and
nothing else."""

from autograd_conformance.programs import operations
from autograd_conformance.protocol import CORE_METHODS, METHODS, OPERATIONS, PATHS, AnyOf, Capability
from autograd_conformance.claims import CLAIMS, PREREQUISITE_ORDER, PREREQUISITES, prerequisite_claims

# Attributes a test may read on any backend: what the suite itself reads (capabilities, layout).
INTROSPECTION = {"capabilities", "linear_layout", "default_float", "available_devices"}
# vjp or backward with a cotangent tensor; the tensor operators beyond the core vocabulary (autograd_conformance.programs)
PSEUDO_OPERATIONS = {"vjp(cotangent)", *operations.PSEUDO_OPERATIONS}
# A test over generated programs (@pytest.mark.programs) may call every operation they draw from.
PROGRAM_OPERATIONS = {need for op in operations.OPS.values() for need in op.needs}


def _capabilities(needs) -> set[Capability]:
    found = set()
    for need in needs:
        found |= set(need) if isinstance(need, AnyOf) else {Capability(getattr(need, "value", need))}
    return found


def allowed(item: dict) -> set[str]:
    claim = CLAIMS[item["claim"]]
    capabilities = _capabilities(claim.all_needs) | _capabilities(item["needs"]) | _capabilities(item["optional"])
    words = set(CORE_METHODS) | INTROSPECTION | set(claim.about) | set(item["uses"])
    if item["programs"]:
        words |= PROGRAM_OPERATIONS
    for capability in capabilities:
        words |= set(METHODS.get(capability, ())) | set(PATHS.get(capability, ()))
    return words


def test_every_test_calls_only_its_vocabulary(reference_run, suite_items):
    used = reference_run["used"]
    problems = []
    for item in suite_items:
        if item["claim"] is None or item["claim"] not in CLAIMS or item["nodeid"] not in used:
            continue
        extra = sorted(set(used[item["nodeid"]]) - allowed(item))
        if extra:
            problems.append(f"{item['nodeid']} ({item['claim']}) calls {extra}")
    assert not problems, ("tests call operations that neither their claim is about (Claim.about) nor they "
                          "declare (@pytest.mark.uses):\n" + "\n".join(problems))


def test_declared_uses_are_called(reference_run, suite_items):
    """A declared prerequisite the test never relies on would block the test for another claim's
    failure: every prerequisite claim a test's declarations name checks an operation it calls."""
    used = reference_run["used"]
    stale = []
    for item in suite_items:
        if item["nodeid"] in used:
            relied_on = {c for op in used[item["nodeid"]] for c in prerequisite_claims(op)}
            never = sorted({c for op in item["uses"] for c in prerequisite_claims(op)} - relied_on)
            if never:
                stale.append(f"{item['nodeid']} declares operations checked by {never} but calls none of them")
    assert not stale, "\n".join(stale)


def test_prerequisites_are_checked_by_their_claims():
    for operation in PREREQUISITES:
        assert operation in OPERATIONS or operation in PSEUDO_OPERATIONS, operation
        for cid in prerequisite_claims(operation):
            assert cid in CLAIMS, f"PREREQUISITES names an unknown claim {cid}"
            assert operation in CLAIMS[cid].about, \
                f"{cid} checks {operation}, so it must be about it"
            assert cid in PREREQUISITE_ORDER, f"{cid} is a prerequisite, so PREREQUISITE_ORDER must place it"


def test_claims_are_about_known_operations():
    for claim in CLAIMS.values():
        unknown = set(claim.about) - set(OPERATIONS) - PSEUDO_OPERATIONS
        assert not unknown, f"{claim.id} is about unknown operations {sorted(unknown)}"
