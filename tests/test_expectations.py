"""Expectation files (autograd_conformance.expectations and the plugin's --expectations): entry
kinds, what ``test`` may name, the shipped default files, usage errors, and the rootdir pytest
chooses when a path option's value lies outside the checkout. Most runs are in-process (torch is
imported once); the rootdir cases run pytest in processes of their own."""

from __future__ import annotations

import json
import textwrap
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from autograd_conformance import backends, expectations, fashionmnist
from tests.conformance_run import run_forked

ROOT = Path(__file__).resolve().parents[1]

FAKE_SUITE = """
import numpy as np
import pytest

claim = pytest.mark.claim

@claim("backward.chain-rule-40")
def test_flaky_fails(B, device):
    assert False, "differs this time"

@claim("backward.chain-rule-40")
def test_flaky_passes(B, device):
    pass

@claim("backward.sum-is-zero-dim")
@pytest.mark.parametrize("variant", ["a", "b"])
def test_param(B, device, variant):
    assert variant == "a", "variant b deviates"
"""

@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_fake=FAKE_SUITE)
    return pytester


def write(pytester: pytest.Pytester, text: str, name: str = "expect.toml") -> str:
    path = pytester.path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def run(pytester: pytest.Pytester, *args: str):
    return pytester.runpytest("-p", "autograd_conformance.plugin", "-p", "no:cacheprovider", "-p", "no:randomly", "--report-dir", "reports", *args)


def report_tests(pytester: pytest.Pytester) -> dict[str, dict]:
    data = json.loads((pytester.path / "reports" / "conformance.json").read_text(encoding="utf-8"))
    return {t["nodeid"]: {**t, "claim": c["id"]} for c in data["claims"] for t in c["tests"]}, data


def junit_properties(path: Path) -> dict[str, dict[str, str]]:
    cases = ET.parse(path).getroot().iter("testcase")
    return {c.get("name"): {p.get("name"): p.get("value") for p in c.iter("property")} for c in cases}


@pytest.mark.parametrize("variant", ["b", "cpu-b"], ids=["id-without-device", "full-pytest-id"])
def test_nondeterministic_and_one_parametrized_variant(suite, variant):
    path = write(suite, f"""
        [[nondeterministic]]
        claim = "backward.chain-rule-40"
        reason = "summation order differs between runs"

        [[expected_failure]]
        claim = "backward.sum-is-zero-dim"
        test = "test_fake.py::test_param[{variant}]"
        reason = "variant b is computed differently"
    """)
    result = run(suite, "--expectations", path, "--junitxml", "junit.xml", "-rA")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["cpu: 0 claims hold, 0 fail, 1 expected failure, 1 nondeterministic",
                                 "*1 passed, 1 xfailed*2 nondeterministic*"])
    tests, data = report_tests(suite)
    outcomes = {nodeid: t["outcome"] for nodeid, t in tests.items()}
    assert outcomes == {"test_fake.py::test_flaky_fails[cpu]": "nondeterministic",
                        "test_fake.py::test_flaky_passes[cpu]": "nondeterministic",
                        "test_fake.py::test_param[cpu-a]": "pass",
                        "test_fake.py::test_param[cpu-b]": "expected failure"}
    assert {c["id"]: c["outcome"] for c in data["claims"]} == {
        "backward.chain-rule-40": "nondeterministic", "backward.sum-is-zero-dim": "expected failure"}
    assert data["totals"]["tests"]["nondeterministic"] == 2 and data["totals"]["tests"]["pass"] == 1
    assert all(f"--expectations {path}" in t["rerun"] for t in tests.values())
    props = junit_properties(suite.path / "junit.xml")
    assert props["test_flaky_fails[cpu]"]["expectation"] == "nondeterministic"
    assert props["test_flaky_passes[cpu]"]["expectation"] == "nondeterministic"
    assert props["test_param[cpu-b]"]["expectation"] == "expected failure"
    assert "expectation" not in props["test_param[cpu-a]"]


def test_item_names_an_entry_may_use(suite):
    items, _ = suite.inline_genitems("-p", "autograd_conformance.plugin", "-p", "no:cacheprovider", "-p", "no:randomly")
    keys = {item.nodeid: expectations.item_keys(item) for item in items}
    assert keys["test_fake.py::test_param[cpu-b]"] == {
        "test_fake.py::test_param", "test_fake.py::test_param[b]", "test_fake.py::test_param[cpu-b]"}
    assert keys["test_fake.py::test_flaky_fails[cpu]"] == {
        "test_fake.py::test_flaky_fails", "test_fake.py::test_flaky_fails[cpu]"}
    assert expectations.device_free_names("f.py::t[cuda:1-b]") == {"f.py::t[cuda:1-b]", "f.py::t[b]"}
    assert expectations.device_free_names("f.py::t[gpu0-b]", ["gpu0"]) == {"f.py::t[gpu0-b]", "f.py::t[b]"}
    assert expectations.device_free_names("f.py::t[c]") == {"f.py::t[c]"}
    assert expectations.device_free_names("f.py::t[cpu]") == {"f.py::t[cpu]", "f.py::t"}
    assert expectations.device_free_names("f.py::t") == {"f.py::t"}


def test_entry_for_another_device_is_not_stale(suite):
    path = write(suite, """
        [[expected_failure]]
        claim = "backward.sum-is-zero-dim"
        test = "test_fake.py::test_param[cuda-b]"
        reason = "only on the GPU"
        [[expected_failure]]
        claim = "backward.sum-is-zero-dim"
        test = "test_fake.py::test_param[a]"
        device = "cuda"
        reason = "only on the GPU"
    """)
    result = run(suite, "--expectations", path, "--no-report", "--collect-only", "-q")
    assert result.ret == 0, result.stderr.str()


def _shipped_entry(name: str) -> dict:
    """An entry of a shipped file that covers every test of its claim."""
    data = tomllib.loads(Path(backends.__file__).with_name(f"{name}_expectations.toml").read_text())
    return next(e for e in data["expected_failure"] if "test" not in e and "device" not in e)


def test_shipped_file_is_the_default_for_a_builtin_backend(pytester):
    pytest.importorskip("mygrad")
    entry = _shipped_entry("mygrad")
    pytester.makepyfile(test_shipped=f"""
        import pytest

        @pytest.mark.claim({entry['claim']!r})
        def test_deviates(B, device):
            assert False, "the listed difference"
    """)
    shipped = Path(backends.__file__).with_name("mygrad_expectations.toml")
    result = run(pytester, "--backend", "mygrad", "-rx")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*1 xfailed*"])
    tests, _ = report_tests(pytester)
    assert [t["outcome"] for t in tests.values()] == ["expected failure"]
    assert f"--expectations {shipped}" in next(iter(tests.values()))["rerun"]

    result = run(pytester, "--backend", "mygrad", "--expectations", "none")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["rerun: pytest -p autograd_conformance.plugin --backend mygrad --device cpu --expectations none --no-report *"])
    tests, _ = report_tests(pytester)
    assert [t["outcome"] for t in tests.values()] == ["fail"]


def test_torch_has_no_shipped_file(suite):
    result = run(suite, "-k", "param")
    tests, _ = report_tests(suite)
    assert all("--expectations" not in t["rerun"] for t in tests.values())
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize(("content", "message"), [
    (None, "a_directory is a directory: pass a TOML file"),
    (b"# caf\xe9\n", "expect.toml is not UTF-8 text (invalid continuation byte at byte 5): save it as UTF-8"),
    ('[[expected_failure]]\nclaim = "backward.chain-rule-40"\nreason = "x"\ntest = 3\n',
     "entry 1: 'test' must be a string, not 3"),
    ('[[expected_failure]]\nclaim = "backward.chain-rule-40"\nreason = "x"\ntest = "test_flaky"\n',
     "must read '<file>::<function>' or '<file>::<function>[<id>]'"),
    ('[[expected_failures]]\nclaim = "backward.chain-rule-40"\nreason = "x"\n',
     "unknown table(s) ['expected_failures']; only [[expected_failure]] and [[nondeterministic]]"),
    ('[expected_failure]\nclaim = "backward.chain-rule-40"\nreason = "x"\n',
     "write each entry as a table [[expected_failure]]"),
    ('[[nondeterministic]]\nclaim = "backward.sum-is-zero-dim"\nreason = "x"\n'
     'test = "test_fake.py::test_param[c]"\n', "entries that match no test: backward.sum-is-zero-dim "
                                                 "[test_fake.py::test_param[c]]"),
    ('[[nondeterministic]]\nclaim = "backward.sum-is-zero-dim"\nreason = "x"\n'
     'test = "test_fake.py::test_param[cpu-c]"\n', "entries that match no test: backward.sum-is-zero-dim "
                                                     "[test_fake.py::test_param[cpu-c]]"),
    ("missing", "missing.toml does not exist"),
    ('[[expected_failure]]\nclaim = "backward.chain-rule-40"\nreason = "x"\ntest = "test_fak.py::test_flaky_fails"\n',
     "the suite has no test file 'test_fak.py'; did you mean 'test_fake.py'"),
    ('[[expected_failure]]\nclaim = "backward.chain-rule-40"\nreason = "x"\ntest = "test_fake.py::test_flaky_fail"\n',
     "no test of claim backward.chain-rule-40 has this name (its tests in test_fake.py: "
     "test_fake.py::test_flaky_fails, test_fake.py::test_flaky_passes)"),
    ('[[expected_failure]]\nclaim = "backward.chain-rule-40"\nreason = "x"\n'
     '[[expected_failure]]\nclaim = "backward.chain-rule-40"\nreason = "y"\n',
     "[[expected_failure]] entry 2 (backward.chain-rule-40) repeats "),
    ('[[expected_failure]]\nclaim = "backward.chain-rule-40"\nreason = "x"\ntest = "test_fake.py::test_flaky_fails"\n'
     '[[nondeterministic]]\nclaim = "backward.chain-rule-40"\nreason = "y"\ntest = "test_fake.py::test_flaky_fails"\n',
     "lists the tests of "),
    ('[[expected_failure]]\nclaim = "backward.chain-rule-40"\nreason = "x"\ndevice = "cpu0"\n',
     "device 'cpu0' is no device name (this backend has cpu"),
], ids=["directory", "not-utf8", "test-not-string", "test-malformed", "unknown-table",
        "single-table", "stale-variant", "stale-full-id", "missing", "misspelt-file", "misspelt-test",
        "repeated", "both-kinds", "unknown-device"])
def test_bad_expectations_are_usage_errors(suite, content, message):
    if content is None:
        path = suite.mkdir("a_directory")
    elif content == "missing":
        path = suite.path / "missing.toml"
    else:
        path = suite.path / "expect.toml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    result = run(suite, "--expectations", str(path), "--no-report")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert str(path) in result.stderr.str() and message in result.stderr.str()
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output and "INTERNALERROR" not in output


def test_pytest_node_id_names_a_test(suite):
    """An entry may name its test as pytest does, folder included (copied from a rerun line)."""
    path = write(suite, """
        [[expected_failure]]
        claim = "backward.chain-rule-40"
        test = "some/folder/test_fake.py::test_flaky_fails[cpu]"
        reason = "fails here"
    """)
    run(suite, "--expectations", path).assert_outcomes(passed=2, failed=1, xfailed=1)
    tests, _ = report_tests(suite)
    assert tests["test_fake.py::test_flaky_fails[cpu]"]["outcome"] == "expected failure"


def _collect(cwd: Path, *args: str) -> list[str]:
    code, out, err = run_forked(["--backend", "torch", *args, "--collect-only", "-q", "-p", "no:cacheprovider",
                                 "-p", "no:randomly"], cwd, timeout=300)
    assert code == 0, out + err
    return [line for line in out.splitlines() if "::" in line]


def test_path_options_outside_the_checkout_keep_rootdir(tmp_path):
    """pytest takes an unknown option's value for a test path while it chooses rootdir: without
    the plugin's correction, a file or directory outside the checkout moved rootdir there, lost
    pyproject.toml's testpaths and collected tests/ too."""
    (tmp_path / "r").mkdir()
    (tmp_path / "x.toml").write_text("")
    fashionmnist.generate(tmp_path / "fm", n_train=8, n_test=8)  # a valid --fashionmnist-root
    plain = _collect(ROOT, "--no-report")
    assert plain and all(line.startswith("suites/") for line in plain)
    spaced = _collect(ROOT, "--expectations", str(tmp_path / "x.toml"), "--report-dir", str(tmp_path / "r"),
                      "--fashionmnist-root", str(tmp_path / "fm"))
    assert spaced == plain
    joined = _collect(ROOT, f"--expectations={tmp_path / 'x.toml'}", f"--report-dir={tmp_path / 'r'}")
    assert joined == plain
