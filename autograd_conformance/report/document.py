"""The report documents: a run's report assembled from its tests' phases, a run as a claims x
columns matrix, several runs merged into one matrix, and writing a run's three files.

The run report's JSON Schema is autograd_conformance/report_schema.json; ``schema_version``
changes with every incompatible change of the format. A test's outcome is the worst of its
phases' (outcomes.py); a claim's outcome on a device is the worst of its tests', or *partly
checked* where some of them did not run (outcomes.claim_outcome), with its tests' counts.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shlex
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path

from autograd_conformance.claims import CLAIMS
from autograd_conformance.outcomes import OUTCOMES, RANK, claim_counts, claim_outcome

SCHEMA_VERSION = 4
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "report_schema.json"
FILES = ("conformance.json", "conformance.md", "conformance.html")


def finished_tests(phases: dict[str, dict[str, dict]], props: dict[str, dict],
                   reruns: dict[str, str]) -> list[dict]:
    """Each finished test with its outcome (the worst of its phases'), from the phases it reported."""
    tests = []
    for nodeid, by_when in phases.items():
        found = [p for p in by_when.values() if p["outcome"]]
        if not found:
            continue  # started but never finished (interrupted)
        decisive = min(found, key=lambda p: RANK[p["outcome"]])
        test_props = props.get(nodeid, {})
        tests.append({
            "nodeid": nodeid, "claim": test_props.get("claim"), "device": test_props.get("device"),
            "outcome": decisive["outcome"], "summary": decisive["summary"],
            "message": decisive["message"],
            "duration": round(sum(p["duration"] for p in by_when.values()), 4),
            "rerun": reruns.get(nodeid)})
    return tests


def assemble(meta: dict, phases: dict[str, dict[str, dict]], props: dict[str, dict],
             reruns: dict[str, str], reasons: list[str], exitstatus: int | None, collected: int) -> dict:
    """The run report (schema in report_schema.json) from the phases each test reported."""
    tests = finished_tests(phases, props, reruns)
    collected = max(collected, len(phases))
    reasons = list(reasons)
    if len(tests) < collected:
        reasons.append(f"only {len(tests)} of {collected} collected tests finished")
    claims = claim_results(tests, meta["devices"])
    return {
        "schema_version": SCHEMA_VERSION, "kind": "run",
        "suite": {"name": "autograd-conformance", "version": suite_version()},
        "backend": meta["backend"], "devices": meta["devices"], "target": meta["target"],
        "python": meta["python"], "date": utc_now(),
        "duration": round(time.time() - meta["started"], 2), "command": meta["command"],
        "complete": not reasons, "incomplete_reason": "; ".join(reasons) or None,
        "exit_status": exitstatus, "collected": collected, "finished": len(tests),
        "totals": {"tests": count(t["outcome"] for t in tests),
                   "claims": count(c["outcome"] for c in claims)},
        "claims": claims,
        "unclaimed": [{k: v for k, v in t.items() if k != "claim"}
                      for t in tests if not t["claim"]],
        "untested_claims": [cid for cid in CLAIMS if cid not in {c["id"] for c in claims}],
    }


def _rerun_all(tests: list[dict]) -> str | None:
    """One command for several tests: the first one's rerun command and the others' targets."""
    if not tests[0]["rerun"]:
        return None
    more = [shlex.split(t["rerun"])[-1] for t in tests[1:] if t["rerun"]]
    return " ".join([tests[0]["rerun"], *map(shlex.quote, more)])


def claim_results(tests: list[dict], devices: list[str]) -> list[dict]:
    """One result per claim and device, in registry order: its outcome (outcomes.claim_outcome),
    its tests' counts, the message of the first test with that outcome and a command rerunning
    every such test. The reports and the terminal summary all read this."""
    cells: dict[tuple, list[dict]] = {}
    for t in tests:
        if t["claim"]:
            cells.setdefault((t["claim"], t["device"]), []).append(t)
    order = {cid: i for i, cid in enumerate(CLAIMS)}
    dev_order = {d: i for i, d in enumerate(devices)}
    results = []
    for (cid, device), group in sorted(cells.items(), key=lambda kv: (
            order.get(kv[0][0], len(order)), kv[0][0], dev_order.get(kv[0][1], len(dev_order)),
            str(kv[0][1]))):
        outcome = claim_outcome(t["outcome"] for t in group)
        decisive = min((t["outcome"] for t in group), key=RANK.__getitem__)
        culprits = [t for t in group if t["outcome"] == decisive]
        first = culprits[0]
        claim = CLAIMS.get(cid)
        results.append({
            "id": cid, "device": device, "outcome": outcome,
            "statement": claim.statement if claim else None,
            "level": claim.level if claim else None,
            "source": list(claim.source) if claim else [],
            "seed_note": (claim.seed_note or None) if claim else None,
            "generalises": (claim.generalises or None) if claim else None,
            "counts": claim_counts(t["outcome"] for t in group),
            "summary": first["summary"], "message": first["message"],
            "rerun": _rerun_all(culprits),
            "tests": [{k: v for k, v in t.items() if k not in ("claim", "device")} for t in group],
        })
    return results


def describe_counts(counts: dict) -> str:
    """"3 of 16 tests ran: 3 pass, 12 not applicable, 1 blocked" for a claim result's counts."""
    parts = [f"{counts[o]} {o}" for o in OUTCOMES if counts.get(o)]
    return f"{counts['ran']} of {counts['tests']} test{'s' * (counts['tests'] != 1)} ran: {', '.join(parts)}"


def fraction(counts: dict) -> str:
    """"3/16" where some of a claim's tests reached a verdict and others did not, else ""."""
    return f"{counts['ran']}/{counts['tests']}" if 0 < counts["ran"] < counts["tests"] else ""


def count(outcomes) -> dict[str, int]:
    counts = dict.fromkeys(OUTCOMES, 0)
    for o in outcomes:
        counts[o] += 1
    return counts


def suite_version() -> str:
    try:
        return metadata.version("autograd-conformance")
    except metadata.PackageNotFoundError:
        return "unknown"


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def execution_target() -> dict:
    target = {"platform": platform.platform(), "machine": platform.machine(),
              "processor": platform.processor() or None, "cpu_count": os.cpu_count(),
              "torch": None, "cuda": None, "gpus": []}
    torch = sys.modules.get("torch")  # imported by a torch-based backend
    if torch is None and (os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/kfd")
                          or shutil.which("nvidia-smi")):
        try:  # a GPU driver is present: worth importing torch (seconds) to ask about CUDA
            import torch
        except Exception:
            torch = None
    if torch is None:  # another engine's run on a machine without GPU driver
        try:
            target["torch"] = metadata.version("torch")
        except metadata.PackageNotFoundError:
            pass
        return target
    target["torch"] = torch.__version__
    if torch.cuda.is_available():
        target["cuda"] = torch.version.cuda or torch.version.hip
        target["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return target


# ------------------------------------------------------------------ matrices and merging
_CLAIM_KEYS = ("statement", "level", "source", "seed_note", "generalises")


def to_matrix(doc: dict) -> dict:
    """A run report (or a matrix, returned as is) as a claims x columns matrix."""
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"report schema_version {doc.get('schema_version')!r} is not "
                         f"{SCHEMA_VERSION}: produced by another version of the suite")
    if doc.get("kind") == "matrix":
        return doc
    backend = doc["backend"]
    seen_devices = list(dict.fromkeys([*doc["devices"], *(c["device"] for c in doc["claims"])]))
    columns = [{"id": f"{backend['name']} {backend['version']} · {device}" if device else PIPELINE_COLUMN,
                "backend": backend["name"] if device else "torchvision",
                "version": backend["version"] if device else _version("torchvision"), "device": device,
                "suite_version": doc["suite"]["version"], "date": doc["date"],
                "python": doc["python"], "complete": doc["complete"],
                "incomplete_reason": doc["incomplete_reason"], "target": doc["target"]}
               for device in seen_devices]
    col_of = {c["device"]: c["id"] for c in columns}
    claims: dict[str, dict] = {}
    for c in doc["claims"]:
        entry = claims.setdefault(c["id"], {"id": c["id"], **{k: c[k] for k in _CLAIM_KEYS},
                                            "results": {}})
        entry["results"][col_of[c["device"]]] = {
            k: c[k] for k in ("outcome", "counts", "summary", "message", "rerun", "tests")}
    return {"schema_version": SCHEMA_VERSION, "kind": "matrix", "generated": doc["date"],
            "columns": columns, "claims": list(claims.values())}


# Claims about the reference data pipeline (level reference-pipeline) run without the engine and
# on no device: every run's results for them form one column, kept once when runs are merged.
PIPELINE_COLUMN = "reference pipeline (torchvision, DataLoader)"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "?"


def merge(docs: list[dict]) -> dict:
    columns, claims = [], {}
    for m in map(to_matrix, docs):
        rename = {}
        for col in m["columns"]:
            if col["device"] is None and any(c["id"] == col["id"] for c in columns):
                rename[col["id"]] = col["id"]  # the same reference pipeline, again
                continue
            new_id, n = col["id"], 2
            while any(c["id"] == new_id for c in columns):
                new_id, n = f"{col['id']} #{n}", n + 1
            rename[col["id"]] = new_id
            columns.append({**col, "id": new_id})
        for c in m["claims"]:
            entry = claims.setdefault(c["id"], {"id": c["id"], **{k: c[k] for k in _CLAIM_KEYS},
                                                "results": {}})
            for col_id, result in c["results"].items():
                entry["results"][rename[col_id]] = result
    columns.sort(key=lambda c: c["device"] is None)  # the reference pipeline's column last
    order = {cid: i for i, cid in enumerate(CLAIMS)}
    ordered = sorted(claims.values(), key=lambda c: order.get(c["id"], len(order)))
    return {"schema_version": SCHEMA_VERSION, "kind": "matrix", "generated": utc_now(),
            "columns": columns, "claims": ordered}

