"""What the suites assert with: values close within the backend's documented tolerance per dtype
(messages say what was expected, what happened and which tolerance applied), one number read from
a tensor of any one-element shape, a listing that is not empty, and an engine's refusal."""

from __future__ import annotations

import numpy as np

from autograd_conformance.protocol import Tolerance

# Used when a backend declares no tolerance for a dtype (documented in docs/engines.md, "Tolerances").
DEFAULT_TOLERANCES = {
    "float16": Tolerance(rtol=1e-2, atol=1e-3),
    "bfloat16": Tolerance(rtol=2e-2, atol=1e-2),
    "float32": Tolerance(rtol=1e-4, atol=1e-5),
    "float64": Tolerance(rtol=1e-7, atol=1e-9),
}


def tolerance_for(backend, dtype: str) -> Tolerance:
    declared = getattr(backend, "tolerances", {}) or {}
    if dtype in declared:
        return declared[dtype]
    return DEFAULT_TOLERANCES.get(dtype, DEFAULT_TOLERANCES["float32"])


def values(backend, t) -> np.ndarray:
    """numpy values of a backend tensor, or of plain numpy data and Python numbers. An engine
    tensor that subclasses numpy.ndarray still goes through the adapter's to_numpy."""
    if type(t) in (int, float, list, tuple, np.ndarray) or isinstance(t, np.generic):
        return np.asarray(t)
    return np.asarray(backend.to_numpy(t))


def assert_close(backend, actual, expected, *, what: str, dtype: str | None = None,
                 scale: float = 1.0, relative_to: str = "element") -> None:
    """Assert backend tensor ``actual`` equals ``expected`` within the backend's tolerance.

    Elementwise (the default): |actual - expected| <= atol + rtol * |expected| everywhere.
    relative_to="max": |actual - expected| <= atol + rtol * max|expected| everywhere; for results
    of long reductions (matmuls over 10^3 terms), where an element that cancels to near zero
    carries the rounding error of its large terms.
    ``scale`` widens both rtol and atol for comparisons whose error grows with the length of a
    computation (e.g. many training steps); tests that use it say why.

    Values are compared by value: a result with as many elements as expected but another shape
    (a one-number result of shape (1,) where () is expected) is read in the expected shape. Only the
    claims about shapes look at shapes, and they do so themselves."""
    if actual is None:  # B.grad of a tensor that got no gradient, typically
        raise AssertionError(f"{what}: expected {_short(values(backend, expected))}, got None")
    got = values(backend, actual)
    want = values(backend, expected)  # computed by the test in float64 from the engine's own inputs
    if dtype is None:  # the precision the engine computed in: the looser of its result's and default's
        candidates = [backend.default_float] + ([str(got.dtype)] if got.dtype.kind == "f" else [])
        dtype = max(candidates, key=lambda d: tolerance_for(backend, d).rtol)
    tol = tolerance_for(backend, dtype)
    rtol, atol = tol.rtol * scale, tol.atol * scale
    if got.shape != want.shape and got.size == want.size:
        got = got.reshape(want.shape)
    if got.shape != want.shape:
        raise AssertionError(f"{what}: expected {want.size} values (shape {want.shape}), got {got.size} "
                             f"(shape {got.shape})")
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    reference = np.abs(want.astype(np.float64))
    if relative_to == "max":
        reference = np.full_like(reference, reference.max() if reference.size else 0.0)
    if np.any(diff > atol + rtol * reference) or np.any(np.isnan(got) != np.isnan(want)):
        worst = np.unravel_index(np.argmax(diff), diff.shape) if diff.ndim else ()
        raise AssertionError(
            f"{what}: not close within {dtype} tolerance (rtol={rtol:g}, atol={atol:g}"
            f"{f', x{scale:g}' if scale != 1 else ''}, relative to {relative_to}).\n"
            f"  expected: {_short(want)}\n  got:      {_short(got)}\n"
            f"  largest difference {diff.max():.3g} at index {tuple(int(i) for i in worst)}"
        )


def _short(a: np.ndarray) -> str:
    text = np.array2string(np.asarray(a), precision=6, threshold=12, edgeitems=3)
    return text.replace("\n", " ")


def value(B, t) -> float:
    """The one number a tensor holds (a loss, a reduction), whatever its shape: (), (1,) or (1, 1)."""
    array = np.asarray(B.to_numpy(t), dtype=np.float64)
    assert array.size == 1, f"expected one number, got an array of shape {array.shape}"
    return float(array.reshape(()))


def nonempty(what: str, items):
    """items as a list, asserting there is at least one: a loop over nothing checks nothing."""
    items = list(items)
    assert items, f"{what}: expected at least one, got none"
    return items


# ------------------------------------------------------------------ errors an engine raises
# An engine refuses an operation (a second backward through a freed graph, backward() without a seed
# on a vector) with RuntimeError (torch; Paddle's PreconditionNotMet), ValueError (Paddle's
# InvalidArgument; numpy-based engines), SystemError (Paddle's Fatal errors, as its second backward
# through a freed graph raises) or AssertionError (engines that check with assert, as tinygrad
# does). Any other exception (TypeError, AttributeError, NameError, KeyError, IndexError) says that
# the adapter called the engine wrongly, not that the engine refused: it fails the test.
ENGINE_ERRORS = (RuntimeError, ValueError, SystemError, AssertionError)


def assert_engine_refuses(action, what: str) -> BaseException:
    """Run action(); it must raise one of ENGINE_ERRORS. Returns the exception. (Unsupported and
    AdapterError are BaseExceptions: they pass through, as the test's own outcome.)"""
    try:
        action()
    except ENGINE_ERRORS as error:
        return error
    except Exception as error:  # noqa: BLE001 - reported, not swallowed
        raise AssertionError(f"{what}: expected the engine to refuse with one of "
                             f"{', '.join(e.__name__ for e in ENGINE_ERRORS)}, got "
                             f"{type(error).__name__}: {error}") from error
    raise AssertionError(f"{what}: expected an error, but it ran without one")
