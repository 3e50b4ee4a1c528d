"""Prerequisites: a cause is reported once.

A test is written in the core vocabulary (protocol.CORE_METHODS) plus what its claim is about
(claims.Claim.about). Anything else it calls, it declares with ``@pytest.mark.uses("mse_loss",
...)``: each such operation is checked by a claim of its own (claims.PREREQUISITES: matmul by
``ops.matmul-matches-numpy`` and, for its shape, ``backward.matmul-vector-shape``, the losses by
``ops.losses-match-numpy``, ...); so is ``sum``, of the core vocabulary. The operations a test
relies on are those it declares and those it called through ``B`` (contracts.py notes them), less
the ones its claim is about. When a test fails and the claim of one of those fails on the same
backend and device, the test is *blocked* by that claim: neither a pass nor a failure of its own
claim, in every report, needing no expectation entry. The prerequisite's claim carries the
failure, once. A prerequisite claim's own tests may be blocked only by the prerequisites before it
in claims.PREREQUISITE_ORDER, so that two claims can never block each other.

Whether a prerequisite holds on a device is found when first needed, in the process that needs
it: when a test that relies on it fails, the prerequisite claim's own collected tests of that
operation (those marked ``@pytest.mark.checks(operation)``, or every test of the claim where none
is; not those that rely on other operations: declared with ``uses``, or drawn by generated programs,
``@pytest.mark.programs``) run in this process (each test function with a fresh ``B``, its device and a fresh ``rng``, as
pytest runs it), once per operation, device and dtype: the dtype the test that relies on it
computes in (its ``dtype`` parameter, else the engine's default float). So a broken ``mean``
blocks the tests that use ``mean``, not those that use only ``sum``, though one claim checks both;
nor does a float64 fault block tests that compute in float32. Under pytest-xdist every worker finds the same verdicts for
itself, so the outcome never depends on which worker ran what, or in which order. A run that
did not collect a prerequisite's tests (``pytest suites/test_backward.py``) cannot tell, and the
test's failure stands as a failure, saying so.
"""

from __future__ import annotations

import numpy as np
import pytest

from autograd_conformance.contracts import RANDOM_SEED, seeded
from autograd_conformance.claims import CLAIMS, PREREQUISITE_ORDER, PREREQUISITES, prerequisite_claims
from autograd_conformance.protocol import AdapterError, Capability, Unsupported, lacking


class Blocked(Exception):
    """A test failed, and a prerequisite's claim fails on this device (see the module docstring)."""

    def __init__(self, claim: str, operation: str, why: str, failure: BaseException) -> None:
        first = (str(failure).strip().splitlines() or [type(failure).__name__])[0]
        super().__init__(f"blocked by {claim} ({operation}), which fails on this backend and device "
                         f"({why}); this test's own failure, not a verdict on its claim: "
                         f"{type(failure).__name__}: {first[:300]}")
        self.claim, self.operation = claim, operation


def used_operations(item: pytest.Item) -> list[str]:
    """The operations the test declares with @pytest.mark.uses."""
    return [op for marker in item.iter_markers("uses") for op in marker.args]


def checked_operations(item: pytest.Item) -> set[str]:
    """The operations a prerequisite claim's test checks (@pytest.mark.checks); empty: all of its claim's."""
    return {op for marker in item.iter_markers("checks") for op in marker.args}


def prerequisites(item: pytest.Item, own_claim: str | None, called=()) -> list[tuple[str, str]]:
    """(operation, a claim that checks it) for each operation item declares or called (called:
    the operations B noted), less those its own claim is about, most basic first (in
    PREREQUISITE_ORDER, so that a broken sum is named rather than the matmul whose test uses it);
    a prerequisite claim's own tests rely only on the prerequisites before it there."""
    about = set(CLAIMS[own_claim].about) if own_claim in CLAIMS else set()
    rank = {c: i for i, c in enumerate(PREREQUISITE_ORDER)}
    limit = rank.get(own_claim, len(rank))
    found = []
    for op in dict.fromkeys([*used_operations(item), *sorted(called)]):
        if op in about:
            continue
        found += [(op, claim) for claim in prerequisite_claims(op)
                  if claim != own_claim and rank.get(claim, len(rank)) < limit]
    return sorted(found, key=lambda found: rank[found[1]])


def unknown_operations(item: pytest.Item) -> list[str]:
    return [op for op in used_operations(item) if op not in PREREQUISITES]


class Prerequisites:
    """The verdict of each prerequisite claim on each device, found when first asked (see the
    module docstring)."""

    def __init__(self, backend, needs_of) -> None:
        self.backend = backend
        self.needs_of = needs_of  # item -> the capabilities it needs (plugin.needs_of)
        self.tests: dict[str, list[pytest.Item]] = {}  # claim -> its collected tests
        self.verdicts: dict[tuple, str | None] = {}

    def collected(self, items: list[pytest.Item], claim_of) -> None:
        wanted = {claim for op in PREREQUISITES for claim in prerequisite_claims(op)}
        for item in items:
            cid = claim_of(item)
            if cid in wanted:
                self.tests.setdefault(cid, []).append(item)

    def failing(self, claim: str, operation: str, device: str | None, dtype: str | None = None) -> str | None:
        """Why claim's tests of operation fail on device in dtype (default: the engine's default
        float), a short text, or None if they hold there or cannot be told."""
        key = (claim, operation, device, dtype or self.backend.default_float)
        if key not in self.verdicts:
            self.verdicts[key] = self._check(*key)
        return self.verdicts[key]

    def unchecked(self, claims: list[str]) -> list[str]:
        return [c for c in claims if c not in self.tests]

    def _check(self, claim: str, operation: str, device: str | None, dtype: str) -> str | None:
        for item in self.tests.get(claim, ()):
            params = getattr(getattr(item, "callspec", None), "params", {})
            checks = checked_operations(item)
            if params.get("device") != device or (checks and operation not in checks):
                continue
            if params.get("dtype", self.backend.default_float) != dtype:
                continue  # the tests that rely on it compute in dtype
            if used_operations(item) or item.get_closest_marker("programs"):
                continue  # the verdict comes from the tests that rely on nothing else
            problem = self._run(item, params, device)
            if problem:
                return f"{item.name}: {problem}"
        return None

    def _run(self, item: pytest.Item, params: dict, device) -> str | None:
        declared = {Capability(getattr(c, "value", c)) for c in self.backend.capabilities}
        if lacking(self.needs_of(item), declared):
            return None  # not applicable here: says nothing against the claim
        marker, limit = item.get_closest_marker("workload"), getattr(self.backend, "max_workload", None)
        if marker and limit is not None and marker.args[0] > limit:
            return None
        names = getattr(getattr(item, "_fixtureinfo", None), "argnames", None)
        if names is None:
            return None
        kwargs = {}
        for name in names:
            if name in params:
                kwargs[name] = params[name]
            elif name == "B":
                kwargs[name] = seeded(self.backend)
            elif name == "rng":
                kwargs[name] = np.random.default_rng(RANDOM_SEED)
            else:
                return None  # a fixture this check cannot give: cannot tell
        try:
            item.obj(**kwargs)
        except Unsupported:
            return None
        except AdapterError as exc:
            return str(exc)
        except Exception as exc:  # noqa: BLE001 - the prerequisite's test failed: that is the verdict
            first = (str(exc).strip().splitlines() or [""])[0]
            return f"{type(exc).__name__}: {first[:200]}"
        return None


def check_declarations(item: pytest.Item) -> None:
    """A test that declares an operation no claim checks is the suite's mistake: it fails."""
    unknown = unknown_operations(item)
    if unknown:
        pytest.fail(f"@pytest.mark.uses names operations no claim checks: {unknown}; add them to "
                    "claims.PREREQUISITES with the claim that checks them", pytrace=False)

