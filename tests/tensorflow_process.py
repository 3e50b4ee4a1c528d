"""The TensorFlow adapter's unit tests run in a process of their own: importing PaddlePaddle, or
triton, after TensorFlow 2.21 segfaults, and the project's tests share worker processes.
test_adapters_tensorflow_mlx.py::test_tensorflow_tests_in_their_own_process starts that process
with ``-k SELECTION``; everywhere else a TensorFlow test skips, and only if SELECTION picks it."""

import os

import pytest

CHILD = "AUTOGRAD_CONFORMANCE_TF_CHILD"  # "1" in the process that runs the TensorFlow tests
# the tests named test_tf_*, and those parametrized with the engine name "tensorflow" (not
# "tensorflow" alone, which matches every test of test_adapters_tensorflow_mlx.py by its file name)
SELECTION = "test_tf_ or [tensorflow]"


def in_child() -> bool:
    return os.environ.get(CHILD) == "1"


def skip_unless_in_child() -> None:
    """Skip the running TensorFlow test outside the TensorFlow process; a test that process would
    not select fails instead of being skipped everywhere."""
    if in_child():
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rpartition(" (")[0]
    assert "::test_tf_" in test or test.endswith("[tensorflow]"), (
        f"{test} needs TensorFlow but the TensorFlow process (-k {SELECTION!r}) would not run it: "
        "name it test_tf_* or parametrize it with 'tensorflow'")
    pytest.skip("runs in its own process (test_tensorflow_tests_in_their_own_process)")
