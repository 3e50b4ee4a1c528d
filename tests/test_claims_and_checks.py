"""The claim registry's shape, and the numeric assertion helper."""

import re

import numpy as np
import pytest

from autograd_conformance.backends.torch_backend import TorchBackend
from autograd_conformance.assertions import assert_close
from autograd_conformance.claims import CLAIMS, PIPELINE, PYTORCH, SEMANTICS, S000, S001, S002, S003, S004
from autograd_conformance.protocol import AnyOf, Capability

SEEDS = {S000, S001, S002, S003, S004}
SOURCE = re.compile(r"^(?P<seed>\d{3}_[0-9a-f]{16}\.txt) (In \[(\d+|None)\]( \(the (first|second)\))?|§ .+)$")


@pytest.mark.parametrize("cid", sorted(CLAIMS))
def test_claim_is_well_formed(cid):
    c = CLAIMS[cid]
    assert re.fullmatch(r"[a-z]+\.[a-z0-9-]+", cid), "ids are <area>.<kebab-case-name>"
    assert c.level in (SEMANTICS, PYTORCH, PIPELINE)
    assert c.why, "every claim says what its tests observe (the reason for its needs)"
    if c.level == PIPELINE:
        assert not c.needs, "a reference-pipeline claim does not involve the engine"
    assert c.statement.endswith(".") and len(c.statement) > 30
    assert c.source, "every claim cites at least one seed cell"
    for source in c.source:
        m = SOURCE.match(source)
        assert m and m["seed"] in SEEDS, f"source {source!r} must be '<seed file> In [n]' or '<seed file> § <section>'"
    assert all(isinstance(n, Capability) or isinstance(n, AnyOf) and all(isinstance(m, Capability) for m in n)
               for n in c.needs)
    if c.level == PYTORCH:
        assert Capability.PYTORCH_API in c.all_needs


def test_every_seed_contributes_claims():
    cited = {s.split(" ")[0] for c in CLAIMS.values() for s in c.source}
    assert cited == SEEDS


def test_assert_close_message_says_expected_got_and_tolerance():
    B = TorchBackend()
    with pytest.raises(AssertionError) as info:
        assert_close(B, B.tensor([1.0, 2.0], device="cpu"), [1.0, 2.1], what="a gradient")
    text = str(info.value)
    assert "a gradient: not close within float32 tolerance (rtol=0.0001, atol=1e-05" in text
    assert "expected: [1.  2.1]" in text and "got:      [1. 2.]" in text
    assert "largest difference 0.1 at index (1,)" in text


def test_assert_close_relative_to_max_allows_cancellation_error():
    B = TorchBackend()
    big = np.array([1e4, 1e-3])
    assert_close(B, big + np.array([0.0, 0.5]), big, what="x", dtype="float32", relative_to="max")
    with pytest.raises(AssertionError):
        assert_close(B, big + np.array([0.0, 0.5]), big, what="x", dtype="float32")


def test_assert_close_compares_by_value():
    """A result with the expected number of elements in another shape (a one-number result of shape
    (1,)) is read in the expected shape; another number of elements fails, saying both."""
    B = TorchBackend()
    assert_close(B, np.ones((1, 3)), np.ones(3), what="x")
    assert_close(B, np.array([27.0]), 27.0, what="a one-number result of shape (1,)")
    with pytest.raises(AssertionError, match=r"expected 3 values \(shape \(3,\)\), got 4 \(shape \(4,\)\)"):
        assert_close(B, np.ones(4), np.ones(3), what="x")
