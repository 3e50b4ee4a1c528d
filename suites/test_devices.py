"""Moving tensors and models between devices (003: model.cuda(), Variable(x.cuda()), then
.cpu().data.numpy()). Each test runs on every device of the run (--device): the tensor or model
starts on the backend's first device (its host, "cpu"), goes to the test's device and comes back.

On the host itself that is a move from cpu to cpu: the tensor round trip between two devices is
then not applicable (its reason says to run with another --device), so a run on cpu alone reports
the claim partly checked, never plainly passed."""

import numpy as np
import pytest

from autograd_conformance import models
from autograd_conformance.assertions import assert_close, nonempty
from autograd_conformance.protocol import Capability, Unsupported

claim = pytest.mark.claim
KINDS = [pytest.param(k, marks=pytest.mark.uses(*models.LAYER_KIND_OPERATIONS[k])) for k in models.SEED_LAYER_KINDS]


@claim("devices.round-trip-keeps-values")
def test_tensor_round_trip(B, device, rng):
    host = B.available_devices()[0]
    if device == host:
        raise Unsupported(f"a second device in this run: on {host} the round trip is {host} to {host}; "
                          f"run with --device <another device> (e.g. cuda) to check a move between devices")
    x0 = rng.standard_normal((4, 3))
    t = B.tensor(x0, device=host)
    held = B.to_numpy(t).copy()
    moved = B.to_device(t, device)
    assert B.device_of(moved) == device, f"t.to({device!r}) must live on {device}, got {B.device_of(moved)}"
    np.testing.assert_array_equal(B.to_numpy(moved), held, err_msg=f"values on {device} after the move")
    assert_close(B, moved * 2 + 1, held.astype(np.float64) * 2 + 1, what=f"a computation on {device}")
    back = B.to_device(moved, host)
    assert B.device_of(back) == host, f"moved back, the tensor must live on {host}"
    np.testing.assert_array_equal(B.to_numpy(back), held, err_msg="values after the round trip")


@claim("devices.round-trip-keeps-values")
def test_move_to_own_device_keeps_values(B, device, rng):
    """A tensor made on the device lives there; t.to(device) for it: the same values, on the same
    device."""
    t = B.tensor(rng.standard_normal((4, 3)), device=device)
    assert B.device_of(t) == device, f"a tensor made with device={device!r} must live there, got {B.device_of(t)}"
    held = B.to_numpy(t).copy()
    moved = B.to_device(t, device)
    assert B.device_of(moved) == device, f"t.to({device!r}) must stay on {device}, got {B.device_of(moved)}"
    np.testing.assert_array_equal(B.to_numpy(moved), held, err_msg=f"values after t.to({device!r}) on {device}")


@claim("devices.round-trip-keeps-values")
@pytest.mark.needs(Capability.MODULES.value)
@pytest.mark.parametrize("kind", KINDS)
def test_model_round_trip(B, device, rng, kind):
    """003: model.cuda(); predicted = model(inputs.cuda()).cpu().data.numpy()."""
    host = B.available_devices()[0]
    model, x, _ = models.layer_of_kind(B, host, kind, rng)
    held = [B.to_numpy(p).copy() for _, p in nonempty(f"{kind} parameters", B.named_parameters(model))]
    out_host = B.to_numpy(model(x)).astype(np.float64)
    moved = B.module_to(model, device)
    for (name, p), old in zip(B.named_parameters(moved), held):
        assert B.device_of(p) == device, f"{kind}.{name} must live on {device} after the move"
        np.testing.assert_array_equal(B.to_numpy(p), old, err_msg=f"{kind}.{name} on {device}: values kept")
    out = moved(B.to_device(x, device))
    assert B.device_of(out) == device, f"the moved {kind} must compute on {device}"
    assert_close(B, out, out_host, what=f"{kind} on {device} vs before the move", relative_to="max")
    back = B.module_to(moved, host)
    for (name, p), old in zip(B.named_parameters(back), held):
        np.testing.assert_array_equal(B.to_numpy(p), old, err_msg=f"{kind}.{name} after the round trip")
