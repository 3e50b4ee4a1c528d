"""The memory held by the graph, observed by watching an intermediate tensor (``B.watch``: a weak
reference by default; an adapter for an engine whose tensors cannot be weakly referenced may watch
them its own way, and without either the claims are not applicable).

h = x * x is an intermediate of y = sum(h * h); backward needs h, so a graph that saves tensors
keeps h alive after the test drops its own reference. Without tracking nothing keeps it, and after
backward (without retain_graph) the graph lets it go."""

import contextlib
import gc

import numpy as np
import pytest

claim = pytest.mark.claim


def _intermediate_kept(B, device, *, no_grad=False, backward=False) -> bool:
    rng = np.random.default_rng(0)  # its own: no test order or plugin changes it
    x = B.tensor(rng.standard_normal(64), device=device, requires_grad=True)
    ctx = B.no_grad() if no_grad else contextlib.nullcontext()
    with ctx:
        h = x * x
        alive = B.watch(h)
        y = B.sum(h * h)
    del h
    if backward:
        B.backward(y)
    gc.collect()
    kept = alive()
    del y
    return kept


@claim("memory.no-grad-saves-nothing")
def test_no_grad_saves_nothing(B, device):
    assert not _intermediate_kept(B, device, no_grad=True), \
        "under no_grad the intermediate h must not be kept alive by a graph"


@claim("memory.graph-holds-saved-tensors")
def test_graph_holds_saved_tensors(B, device):
    assert _intermediate_kept(B, device), \
        "a tracked forward must keep the intermediate h that backward needs"


@claim("memory.graph-freed-after-backward")
def test_graph_freed_after_backward(B, device):
    assert not _intermediate_kept(B, device, backward=True), \
        "after backward without retain_graph the graph must release h"
