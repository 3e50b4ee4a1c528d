"""The garbage collector in a conformance run: what lives as long as the run is frozen out of its
sight.

An engine's modules, the plugins and the collected tests make hundreds of thousands of objects
that live as long as the run, and every full collection of Python's garbage collector walks them
all again (on torch that took about half of the suite's time). ``gc.freeze`` moves them into the
permanent generation, which collections skip:

- after collection, without a collection first (it would cost a tenth of a second on torch to
  free the little garbage that importing left, which may as well stay);
- after a test that imported a large part of a library (``IMPORTED`` modules or more): an engine
  imports parts of itself at first use (torch its compiler stack, ``torch._dynamo``, about 900
  modules, at the first optimizer step; the reference-pipeline claims torchvision, about 180), so
  that test's garbage is collected and the rest frozen too. A few modules imported on the way are
  not worth the full collection that comes first.

Objects the tests make are collected as before.
"""

from __future__ import annotations

import gc
import sys

import pytest

IMPORTED = 100
_modules_key = pytest.StashKey[int]()  # len(sys.modules) at the last freeze


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    gc.freeze()
    session.config.stash[_modules_key] = len(sys.modules)


@pytest.hookimpl(trylast=True)  # after the test's fixtures are torn down
def pytest_runtest_teardown(item: pytest.Item) -> None:
    frozen = item.config.stash.get(_modules_key, None)
    if frozen is not None and len(sys.modules) >= frozen + IMPORTED:
        gc.collect()
        gc.freeze()
        item.config.stash[_modules_key] = len(sys.modules)
