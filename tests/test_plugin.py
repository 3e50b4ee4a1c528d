"""The plugin's command line, fixtures and outcomes, driven through pytester in subprocesses."""

import os
import subprocess
import sys
import textwrap

import pytest

from tests.conformance_run import runpytest_forked

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

SAMPLE_TEST = """
    import numpy as np
    import pytest

    @pytest.mark.claim("graph.leaf-has-no-node")
    def test_leaf(B, device):
        x = B.tensor(np.ones(2), device=device, requires_grad=True)
        assert B.grad_fn(x) is None

    @pytest.mark.claim("backward.chain-rule-40")
    def test_chain(B, device):
        _, (dw,) = B.vjp(lambda w: 10 * w ** 2 + 25, [B.tensor(2.0, device=device)])
        assert abs(float(B.to_numpy(dw)) - 40) < 1e-4
"""

FAKE_BACKENDS = '''
    import os, time
    from autograd_conformance.backends.torch_backend import TorchBackend
    from autograd_conformance.protocol import Capability

    class NoGraphNodes(TorchBackend):
        name = "no-graph-nodes"
        capabilities = frozenset(Capability) - {Capability.GRAPH_NODES, Capability.OPTIMIZER_GRADIENTS}

    class BrokenGraphNodes(TorchBackend):
        name = "broken-graph-nodes"
        def grad_fn(self, t):
            return object()

    class Hangs(TorchBackend):
        name = "hangs"
        def vjp(self, fn, inputs, seed=None):
            time.sleep(60)

    class Littering(TorchBackend):
        """Writes into the working directory when imported and in each vjp, as some engines do."""
        name = "littering"
        def __init__(self):
            os.makedirs("rank_0", exist_ok=True)
            open("rank_0/import.log", "w").close()
        def vjp(self, fn, inputs, cotangent=None):
            open("compile.log", "a").close()
            return super().vjp(fn, inputs, cotangent)

    class FakeCuda(TorchBackend):
        """Pretends to have a GPU: tensors for 'cuda' are made on the CPU."""
        name = "fake-cuda"
        def available_devices(self):
            return ["cpu", "cuda"]
        def tensor(self, data, *, device, dtype=None, requires_grad=False):
            return super().tensor(data, device="cpu", dtype=dtype, requires_grad=requires_grad)

    instance = NoGraphNodes()
'''


@pytest.fixture
def suite(pytester):
    pytester.makepyfile(test_sample=textwrap.dedent(SAMPLE_TEST))
    pytester.makepyfile(fakebackends=textwrap.dedent(FAKE_BACKENDS))
    return pytester


def run(pytester, *args):
    return runpytest_forked(pytester, "-p", "autograd_conformance.plugin", "-p", "no:cacheprovider", "-p", "no:randomly", "-o", "pythonpath=.", *args)


def test_options_are_in_help(pytester):
    result = run(pytester, "--help")
    result.stdout.fnmatch_lines(["*autograd conformance suite*", "*--backend=NAME*", "*--device=LIST*"])


def test_default_backend_is_torch_on_cpu(suite):
    result = run(suite, "-v")
    result.stdout.fnmatch_lines(["*test_leaf?cpu? PASSED*", "*test_chain?cpu? PASSED*",
                                 "*conformance: backend torch*", "cpu: 2 claims hold, 0 fail"])
    assert result.ret == 0


def test_unknown_backend_is_a_usage_error(suite):
    result = run(suite, "--backend", "nosuchengine")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown backend 'nosuchengine'. Known backends: *torch*"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_adapter_import_error_is_shown(suite):
    suite.makepyfile(brokenadapter="import enginethatisnotinstalled\n")
    result = run(suite, "--backend", "brokenadapter:Backend")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*could not be imported from 'brokenadapter'*"
                                 "ModuleNotFoundError: No module named 'enginethatisnotinstalled'*"
                                 "Install the engine the adapter imports*"])
    assert "Traceback" not in result.stderr.str()


def test_adapter_module_not_found_says_how_to_make_it_importable(suite):
    """An import path whose module is not on sys.path (an adapter found only through PYTHONPATH)
    gets that hint, not a pip extra named after the import path, which cannot exist."""
    result = run(suite, "--backend", "adapters.mine:Backend")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*Make 'adapters.mine' importable: install the package that holds it, or add "
                                 "the directory that holds it to PYTHONPATH*"])
    assert "autograd-conformance[" not in result.stderr.str()


def test_missing_attribute_in_import_path(suite):
    result = run(suite, "--backend", "fakebackends:Nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*module 'fakebackends' has no attribute 'Nope'*"])


def test_unavailable_device_is_a_usage_error(suite):
    result = run(suite, "--device", "cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*'cuda' is not available for backend 'torch' on this machine. "
                                 "Available here: cpu. Pass one of those, or --device all.*"])
    assert "Traceback" not in result.stderr.str()


def test_device_all_runs_every_available_device(suite):
    result = run(suite, "--device", "all", "-v")
    result.stdout.fnmatch_lines(["*test_leaf?cpu? PASSED*"])
    assert "cuda" not in result.stdout.str()
    assert result.ret == 0


def test_devices_parametrize_every_test(suite):
    result = run(suite, "--backend", "fakebackends:FakeCuda", "--device", "cpu,cuda", "-v")
    result.stdout.fnmatch_lines(["*test_leaf?cpu? PASSED*", "*test_leaf?cuda? PASSED*",
                                 "*test_chain?cpu? PASSED*", "*test_chain?cuda? PASSED*",
                                 "cpu: 2 claims hold, 0 fail", "cuda: 2 claims hold, 0 fail"])


def test_backend_by_import_path_class_or_instance(suite):
    for target in ("fakebackends:NoGraphNodes", "fakebackends:instance"):
        result = run(suite, "--backend", target, "-v")
        result.stdout.fnmatch_lines(["*conformance: backend no-graph-nodes*"])


def test_backend_by_entry_point(suite):
    dist = suite.path / "fake_engine-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-engine\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[autograd_conformance.backends]\nfakeengine = fakebackends:FakeCuda\n")
    result = run(suite, "--backend", "fakeengine", "-v")
    result.stdout.fnmatch_lines(["*conformance: backend fake-cuda*"])
    assert result.ret == 0
    result = run(suite, "--backend", "nosuchengine")
    result.stderr.fnmatch_lines(["*Known backends: fakeengine, *torch*"])


def test_missing_capability_is_not_applicable(suite):
    result = run(suite, "--backend", "fakebackends:NoGraphNodes", "-v", "-rs")
    result.stdout.fnmatch_lines([
        "*test_leaf?cpu? NOT APPLICABLE*",
        "*test_chain?cpu? PASSED*",
        "*1 passed, 1 not applicable*",
    ])
    assert result.ret == 0
    result.stdout.fnmatch_lines(["  not applicable: backend lacks graph_nodes: graph.leaf-has-no-node"])


def test_declared_capability_broken_fails(suite):
    result = run(suite, "--backend", "fakebackends:BrokenGraphNodes")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*claim graph.leaf-has-no-node (semantics): A tensor created with requires_grad=True*",
        "*source: 001_b68a8d5263953d7e.txt In ?2?*",
        "rerun: pytest -p autograd_conformance.plugin --backend fakebackends:BrokenGraphNodes --device cpu "
        "--no-report 'test_sample.py::test_leaf?cpu?'",
        "*1 failed, 1 passed*",
    ])


def test_scratch_of_a_killed_run_is_removed_by_the_next(suite, tmp_path):
    """A run killed outright cannot remove its scratch directory; the next run removes those of
    runs whose process is gone, and leaves a live run's."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = temp / f"autograd-conformance-run-{dead.pid}-abc"
    alive = temp / f"autograd-conformance-run-{os.getpid()}-def"
    for folder in (orphan, alive):
        (folder / "cwd").mkdir(parents=True)
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "autograd_conformance.plugin", "-p", "no:cacheprovider",
                             "-p", "no:randomly", "--backend", "torch", "--no-report", "test_sample.py"],
                            cwd=suite.path, env={**os.environ, "TMPDIR": str(temp)}, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert not orphan.exists() and alive.exists()
    assert sorted(p.name for p in temp.iterdir()) == [alive.name]  # the run's own is gone too


@pytest.mark.parametrize("parallel", [[], ["-n", "1"]], ids=["serial", "xdist"])
def test_engine_files_land_outside_the_invocation_directory(suite, parallel):
    """The engine's import and each conformance test run in the run's scratch directory: what an
    engine writes where it runs leaves the user's tree (here, the invocation directory) alone."""
    def listing():  # less what the harness makes: bytecode, the run's --basetemp
        return sorted(p.name for p in suite.path.iterdir()
                      if p.name != "__pycache__" and not p.name.startswith("runpytest-"))

    suite.makepyfile(test_property="""
        import pytest
        from hypothesis import given, strategies as st

        @pytest.mark.claim("backward.chain-rule-40")
        @given(st.integers(1, 5))
        def test_constants_cached(B, device, n):  # Hypothesis caches the module's constants
            assert n > 0
    """)

    before = listing()
    result = run(suite, "--backend", "fakebackends:Littering", "--no-report", *parallel)
    result.assert_outcomes(passed=3)
    assert listing() == before


@pytest.mark.slow  # waits out a timeout in a run of its own
@pytest.mark.parametrize("timeout", [["--conformance-timeout", "2", "-p", "no:timeout"], ["--timeout", "2"]],
                         ids=["own-timer-without-pytest-timeout", "pytest-timeout-option"])
def test_hanging_backend_times_out(suite, timeout):
    """The suite's own timer ends a hanging test with no timeout plugin in the environment; where
    pytest-timeout is installed, its --timeout sets the conformance timeout too."""
    result = run(suite, "--backend", "fakebackends:Hangs", *timeout)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*TestTimeout: ran longer than its timeout of 2 s*", "*1 timeout*",
                                 "TIMEOUT test_sample.py::test_chain*", "*1 failed, 1 passed*"])


def test_unknown_claim_fails_at_collection_naming_the_nearest(pytester):
    pytester.makepyfile(test_bad="""
        import pytest
        @pytest.mark.claim("optim.sgd-update-rul")
        def test_x(B, device):
            pass
    """)
    result = run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*ERROR collecting test_bad.py*",
                                 "*test_bad.py::test_x: its claim marker names unknown claim "
                                 "'optim.sgd-update-rul'; did you mean 'optim.sgd-update-rule'*"])


def _expectations(pytester, text):
    path = pytester.path / "expect.toml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_expected_failure_is_reported_as_such(suite):
    path = _expectations(suite, """
        [[expected_failure]]
        claim = "graph.leaf-has-no-node"
        reason = "leaves report a node of their own"
        link = "https://example.org/engine/issues/1"
    """)
    result = run(suite, "--backend", "fakebackends:BrokenGraphNodes", "--expectations", path, "-rx")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*XFAIL*test_leaf?cpu?*expected failure: graph.leaf-has-no-node: "
                                 "leaves report a node of their own (https://example.org/engine/issues/1)*",
                                 "*1 passed, 1 xfailed*"])


def test_expected_failure_that_passes_fails_the_run(suite):
    path = _expectations(suite, """
        [[expected_failure]]
        claim = "graph.leaf-has-no-node"
        test = "test_sample.py::test_leaf"
        reason = "no longer true"
    """)
    result = run(suite, "--expectations", path)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*XPASS(strict)*no longer true*"])


@pytest.mark.parametrize(("text", "message"), [
    ('[[expected_failure]]\nclaim = "no.such"\nreason = "x"\n', "*names unknown claim 'no.such'*"),
    ('[[expected_failure]]\nclaim = "graph.leaf-has-no-node"\n', "*needs a non-empty string 'reason'*"),
    ('[[expected_failure]]\nclaim = "graph.leaf-has-no-node"\nreason = "x"\nwhy = 1\n',
     "*unknown key(s) ?'why'?*"),
    ("[[expected_failure]\n", "*is not valid TOML*"),
    ('[[expected_failure]]\nclaim = "graph.leaf-has-no-node"\nreason = "x"\n'
     'test = "test_sample.py::test_gone"\n', "*entries that match no test: graph.leaf-has-no-node "
                                             "?test_sample.py::test_gone?*"),
], ids=["unknown-claim", "no-reason", "unknown-key", "not-toml", "stale-test"])
def test_malformed_expectations_are_usage_errors(suite, text, message):
    result = run(suite, "--expectations", _expectations(suite, text))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_capability_without_its_methods_is_a_usage_error(suite):
    suite.makepyfile(halfadapter='''
        from autograd_conformance.backends.torch_backend import TorchBackend

        class NoNamedParameters(TorchBackend):
            def __getattribute__(self, name):
                if name == "named_parameters":
                    raise AttributeError(name)
                return super().__getattribute__(name)

        class StringCapabilities(TorchBackend):
            capabilities = frozenset({"backward", "gradients_everywhere"})
    ''')
    result = run(suite, "--backend", "halfadapter:NoNamedParameters")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*declares the capability 'modules' but lacks named_parameters: implement "
                                 "them or leave the capability out.*"])
    result = run(suite, "--backend", "halfadapter:StringCapabilities")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*declares unknown capabilities gradients_everywhere. Known: stores_gradients,*"])


def test_missing_operation_is_not_applicable_naming_it(suite):
    """An adapter without conv2d loses only the tests that call it, reported as not applicable."""
    suite.makepyfile(noconv='''
        from autograd_conformance.backends.torch_backend import TorchBackend

        class NoConv(TorchBackend):
            def __getattribute__(self, name):
                if name == "conv2d":
                    raise AttributeError(name)
                return super().__getattribute__(name)
    ''', test_ops='''
        import numpy as np
        import pytest

        @pytest.mark.claim("modules.lenet-shapes")
        def test_conv(B, device):
            B.conv2d(1, 2, 3, device=device)

        @pytest.mark.claim("modules.lenet-shapes")
        def test_linear(B, device):
            assert B.linear(2, 3, device=device) is not None
    ''')
    result = run(suite, "--backend", "noconv:NoConv", "--junitxml=junit.xml", "test_ops.py")
    assert result.ret == pytest.ExitCode.OK
    # one test of the claim ran and passed, the other did not apply: partly checked, never a pass
    result.stdout.fnmatch_lines(["cpu: 0 claims hold, 0 fail, 1 partly checked",
                                 "  partly checked claim modules.lenet-shapes: 1 of 2 tests ran "
                                 "(not applicable: backend lacks conv2d)",
                                 "*1 passed, 1 not applicable*"])
    junit = (suite.path / "junit.xml").read_text()
    assert 'name="not_applicable" value="backend lacks conv2d"' in junit


@pytest.mark.slow  # a Python process of its own
def test_a_run_in_a_fresh_process_warns_of_nothing():
    """pytest rewrites the asserts of the plugin's modules only where it imports them first: a module
    that plugin.py imported itself before pytest_plugins did warns (PytestAssertRewriteWarning) in
    every run. The forked runs of the other tests preload the modules and silence that warning, so
    this one starts the pytest command afresh (python -m pytest, with the checkout first on
    sys.path, does not show it)."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    pytest_command = Path(sys.executable).with_name("pytest")  # as the README runs it: not python -m
    done = subprocess.run([str(pytest_command), "suites/test_ops.py::test_item", "--backend", "torch",
                           "--no-report", "-p", "no:cacheprovider", "-p", "no:randomly"],
                          cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "warnings summary" not in done.stdout, done.stdout[-3000:]
