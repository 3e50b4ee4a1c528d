"""The garbage collector's policy in a conformance run (autograd_conformance/gc_policy.py): what exists
after collection is frozen, and so is what a test that imports a large part of a library leaves."""

import textwrap

from tests.conformance_run import runpytest_forked

SAMPLE = """
    import gc
    import importlib
    import pytest

    counts = {}

    @pytest.mark.claim("backward.chain-rule-40")
    def test_first(B, device):
        counts["after collection"] = gc.get_freeze_count()
        for i in range(N):  # a library of N modules, imported at first use as engines do
            importlib.import_module(f"lib.m{i}")

    @pytest.mark.claim("backward.sum-is-zero-dim")
    def test_second(B, device):
        counts["after the imports"] = gc.get_freeze_count()
        assert counts["after collection"] > 10_000, counts  # the engine, plugins and tests
        assert counts["after the imports"] FROZEN, counts
"""


def _run(pytester, modules: int, frozen: str):
    lib = pytester.mkpydir("lib")
    for i in range(modules):
        (lib / f"m{i}.py").write_text(f"objects = [[{i}] for _ in range(100)]\n")
    pytester.makepyfile(test_sample=textwrap.dedent(SAMPLE).replace("N)", f"{modules})").replace("FROZEN", frozen))
    return runpytest_forked(pytester, "-p", "autograd_conformance.plugin", "-p", "no:cacheprovider",
                            "-p", "no:randomly", "--no-report", "-o", "pythonpath=.")


def test_a_large_import_during_a_test_is_frozen_after_it(pytester):
    result = _run(pytester, 120, '>= counts["after collection"] + 120 * 100')  # their lists
    assert result.ret == 0, result.stdout.str()


def test_a_few_modules_imported_on_the_way_are_not(pytester):
    result = _run(pytester, 5, '<= counts["after collection"]')  # frozen objects may be freed
    assert result.ret == 0, result.stdout.str()
