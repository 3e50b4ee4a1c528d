"""Prerequisites: a cause is reported once.

A test is written in the core vocabulary (capabilities.CORE_METHODS) plus what its claim is about
(claims.Claim.about). Anything else it calls, it declares with ``@pytest.mark.uses("mse_loss",
...)``: each such operation is checked by a claim of its own (claims.PREREQUISITES: matmul by
``ops.matmul-matches-numpy``, the losses by ``ops.losses-match-numpy``, ...). When a test fails
and one of its prerequisites' claims fails on the same backend and device, the test is *blocked*
by that claim: neither a pass nor a failure of its own claim, in every report, needing no
expectation entry. The prerequisite's claim carries the failure, once.

Whether a prerequisite's claim holds on a device is found when first needed, in the process that
needs it: when a test that relies on it fails, the prerequisite claim's own collected tests run
in this process (each test function with a fresh ``B``, its device and a fresh ``rng``, as pytest
runs it), once per claim and device. Under pytest-xdist every worker finds the same verdicts for
itself, so the outcome never depends on which worker ran what, or in which order. A run that
did not collect a prerequisite's tests (``pytest suites/test_backward.py``) cannot tell, and the
test's failure stands as a failure, saying so.
"""

from __future__ import annotations

import numpy as np
import pytest

from autograd_conformance.adapter import SEED, seeded
from autograd_conformance.claims import PREREQUISITES
from autograd_conformance.protocol import AdapterError, Capability, Unsupported, lacking


class Blocked(Exception):
    """A test failed, and a prerequisite's claim fails on this device (see the module docstring)."""

    def __init__(self, claim: str, why: str, failure: BaseException) -> None:
        first = (str(failure).strip().splitlines() or [type(failure).__name__])[0]
        super().__init__(f"blocked by {claim}, which fails on this backend and device ({why}); "
                         f"this test's own failure, not a verdict on its claim: "
                         f"{type(failure).__name__}: {first[:300]}")
        self.claim = claim


def used_operations(item: pytest.Item) -> list[str]:
    """The operations the test declares with @pytest.mark.uses."""
    return [op for marker in item.iter_markers("uses") for op in marker.args]


def prerequisite_claims(item: pytest.Item, own_claim: str | None) -> list[str]:
    """The claims that check the operations item uses, its own claim left out."""
    claims = [PREREQUISITES[op] for op in used_operations(item) if op in PREREQUISITES]
    return [c for c in dict.fromkeys(claims) if c != own_claim]


def unknown_operations(item: pytest.Item) -> list[str]:
    return [op for op in used_operations(item) if op not in PREREQUISITES]


class Prerequisites:
    """The verdict of each prerequisite claim on each device, found when first asked (see the
    module docstring)."""

    def __init__(self, backend, required) -> None:
        self.backend = backend
        self.required = required  # item -> the capabilities it needs (plugin.required_capabilities)
        self.tests: dict[str, list[pytest.Item]] = {}  # claim -> its collected tests
        self.verdicts: dict[tuple[str, str | None], str | None] = {}

    def collected(self, items: list[pytest.Item], claim_of) -> None:
        wanted = set(PREREQUISITES.values())
        for item in items:
            cid = claim_of(item)
            if cid in wanted:
                self.tests.setdefault(cid, []).append(item)

    def failing(self, claim: str, device: str | None) -> str | None:
        """Why claim fails on device (a short text), or None if it holds there or cannot be told."""
        key = (claim, device)
        if key not in self.verdicts:
            self.verdicts[key] = self._check(claim, device)
        return self.verdicts[key]

    def unchecked(self, claims: list[str]) -> list[str]:
        return [c for c in claims if c not in self.tests]

    def _check(self, claim: str, device: str | None) -> str | None:
        for item in self.tests.get(claim, ()):
            params = getattr(getattr(item, "callspec", None), "params", {})
            if params.get("device") != device:
                continue
            problem = self._run(item, params, device)
            if problem:
                return f"{item.name}: {problem}"
        return None

    def _run(self, item: pytest.Item, params: dict, device) -> str | None:
        declared = {Capability(getattr(c, "value", c)) for c in self.backend.capabilities}
        if lacking(self.required(item), declared):
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
                kwargs[name] = np.random.default_rng(SEED)
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

