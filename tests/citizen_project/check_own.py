from hypothesis import given, settings, strategies as st


def test_own_device_fixture(device):
    assert device == "this project's device"


def test_own_backend_option(pytestconfig):
    assert pytestconfig.getoption("backend") == "cli-backend"


def test_hypothesis_defaults_untouched():
    # Hypothesis's own profile ("default", or its built-in "ci" where CI is set): 100 examples,
    # not the conformance suite's 12
    assert settings.default.max_examples == 100


def test_own_timeout_option(pytestconfig):
    assert pytestconfig.getoption("timeout") == "cli-timeout"


def test_own_benchmark_fixture(benchmark):
    assert benchmark == "this project's benchmark"


@given(st.integers())
def test_hypothesis_runs(n):
    assert isinstance(n, int)
