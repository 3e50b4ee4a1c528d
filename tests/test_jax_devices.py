"""A second device without a GPU: JAX on two host devices. With
XLA_FLAGS=--xla_force_host_platform_device_count=2 in the environment when JAX starts its CPU
backend, jax.devices("cpu") has two devices, which the JAX adapter lists as ``cpu`` and ``cpu:1``;
.ci/run runs the JAX suite on both. These tests check that the second device is really used: a
tensor made on cpu:1 lives on JAX's second CPU device and says so through the adapter, results stay
there, mixing it with a tensor on cpu is JAX's error (a tensor on the wrong device), and a
conformance run with ``--device all`` gives verdicts on both devices, its matrix a column for each.

JAX reads the flag once per process, so each check runs in a process of its own (JAX in this one,
if another test imported it, has one CPU device). Skipped where JAX is not installed."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from autograd_conformance.outcomes import BAD, NA, PASS
from autograd_conformance.report.document import merge
from tests.conformance_run import ROOT, run_suite_cases

pytestmark = [pytest.mark.slow,  # processes of their own that import JAX; one is a conformance run
              pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                 reason="JAX is not installed (pip install '.[jax]')")]

FLAG = "--xla_force_host_platform_device_count=2"


def _two_host_devices() -> dict[str, str]:
    """This environment with two JAX host devices (the flag added to any XLA_FLAGS already set;
    JAX_NUM_CPU_DEVICES, which would take precedence over it, left out)."""
    env = {k: v for k, v in os.environ.items() if k != "JAX_NUM_CPU_DEVICES"}
    env["XLA_FLAGS"] = " ".join(filter(None, [env.get("XLA_FLAGS"), FLAG]))
    return env


# Run in a process of its own: what the adapter says about tensors on cpu:1, and what JAX says.
_ADAPTER_ON_CPU1 = """
import json
import jax
import numpy as np
from autograd_conformance.registry import load_backend

B = load_backend("jax")
host, second = jax.devices("cpu")[:2]
found = {"available": B.available_devices()}

def where(t):
    return [B.device_of(t), sorted(d.id for d in t.devices())]

x = B.tensor(np.arange(6.0).reshape(2, 3) - 2, device="cpu:1")
found["made"] = where(x)
found["second_id"], found["host_id"] = second.id, host.id
labels = B.tensor(np.array([0, 2]), device="cpu:1")
found["results"] = {
    "x * 2 + 1": where(x * 2 + 1), "sum": where(B.sum(x)), "relu": where(B.relu(x)),
    "reshape": where(B.reshape(x, (3, 2))), "transpose": where(B.transpose(x)),
    "cross_entropy": where(B.cross_entropy(x, labels)), "detach": where(B.detach(x)),
}
out, (grad,) = B.vjp(lambda t: B.sum(t * t), [x])
found["results"]["vjp output"], found["results"]["vjp gradient"] = where(out), where(grad)
rule = B.custom_function(lambda t: (t * 3, (t,)), lambda residuals, cotangent: (cotangent * 3,))
_, (custom_grad,) = B.vjp(lambda t: B.sum(rule(t)), [x])
found["results"]["custom rule's gradient"] = where(custom_grad)
moved = B.to_device(x, "cpu")
found["moved"], found["back"] = where(moved), where(B.to_device(moved, "cpu:1"))
try:
    x + moved
    found["mixed"] = None
except Exception as exc:
    found["mixed"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(found))
"""


def test_a_tensor_made_on_cpu1_lives_there():
    done = subprocess.run([sys.executable, "-c", _ADAPTER_ON_CPU1], cwd=ROOT, env=_two_host_devices(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["available"][:2] == ["cpu", "cpu:1"], f"{FLAG}: two host devices, listed as cpu and cpu:1"
    second, host = found["second_id"], found["host_id"]
    assert found["made"] == ["cpu:1", [second]], "made on cpu:1: JAX's second CPU device, named cpu:1"
    wrong = {op: place for op, place in found["results"].items() if place != ["cpu:1", [second]]}
    assert not wrong, f"results of tensors on cpu:1 must stay on cpu:1: {wrong}"
    assert found["moved"] == ["cpu", [host]] and found["back"] == ["cpu:1", [second]]
    assert found["mixed"] and "incompatible devices" in found["mixed"], \
        f"a tensor on cpu:1 with one on cpu is JAX's error, as torch's cpu with cuda: {found['mixed']}"


def test_device_all_runs_every_test_on_both_host_devices(tmp_path):
    code, cases, output = run_suite_cases(
        tmp_path, "--backend", "jax", "--device", "all",
        suites=["suites/test_devices.py", "suites/test_custom_function.py"], env=_two_host_devices())
    assert cases, output[-3000:]
    bad = {t: c["message"][:300] for t, c in cases.items() if c["outcome"] in BAD}
    assert code == 0 and not bad, f"JAX holds these claims on both host devices: {bad}\n{output[-2000:]}"
    run = json.loads((tmp_path / "reports" / "conformance.json").read_text(encoding="utf-8"))
    assert run["devices"][:2] == ["cpu", "cpu:1"]

    by_device: dict[str, dict[str, str]] = {}  # device -> test id without the device -> outcome
    for test_id, case in cases.items():
        name, _, params = test_id.partition("[")
        device, _, rest = params.rstrip("]").partition("-")
        by_device.setdefault(device, {})[name + (f"[{rest}]" if rest else "")] = case["outcome"]
    cpu, cpu1 = by_device["cpu"], by_device["cpu:1"]
    round_trip = "suites.test_devices::test_tensor_round_trip"
    assert cpu[round_trip] == NA and cpu1[round_trip] == PASS, \
        "the round trip between devices applies on cpu:1 (cpu to cpu:1 and back), not on cpu"
    assert cpu1["suites.test_devices::test_move_to_own_device_keeps_values"] == PASS
    assert set(cpu) == set(cpu1), "every test runs on both devices"
    assert {t: o for t, o in cpu1.items() if t != round_trip} == {t: o for t, o in cpu.items() if t != round_trip}, \
        "the same verdicts on both host devices, but for the round trip"
    assert PASS in cpu.values(), "custom functions' claims hold on JAX"

    reruns = {t["nodeid"]: t["rerun"] for c in run["claims"] for t in c["tests"]}
    rerun = reruns["suites/test_devices.py::test_tensor_round_trip[cpu:1]"]
    assert "XLA_FLAGS=" in rerun and FLAG in rerun and "--device cpu:1" in rerun, \
        f"a test on cpu:1 reruns with the flag that gives JAX its second device: {rerun}"

    passed = {(c["id"], c["device"]) for c in run["claims"] if c["outcome"] == PASS}
    assert ("custom.backward-rule-is-used", "cpu") in passed and ("custom.backward-rule-is-used", "cpu:1") in passed
    matrix = merge([run])
    jax_columns = [c["device"] for c in matrix["columns"] if c["backend"] == "jax"]
    assert jax_columns[:2] == ["cpu", "cpu:1"], "the matrix has a column for each JAX device"
    rule = next(c for c in matrix["claims"] if c["id"] == "custom.backward-rule-is-used")
    assert [rule["results"][c["id"]]["outcome"] for c in matrix["columns"][:2]] == [PASS, PASS]
