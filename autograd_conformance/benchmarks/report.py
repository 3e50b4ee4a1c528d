"""The benchmark report: per workload, the median time on every backend and device, its ratio to
the reference (torch on the CPU), GFLOP/s and graph memory, from pytest-benchmark JSON files;
written as benchmarks.md beside the chart (chart.py) as benchmarks.svg."""

from __future__ import annotations

import json
from pathlib import Path

REPORT_FILES = ("benchmarks.md", "benchmarks.svg")
REFERENCE = ("torch", "cpu")  # backend, device every other column is compared with


class ReportError(Exception):
    """A benchmark JSON file could not be read; the message says which and why."""


def load(paths: list[Path]) -> tuple[list[dict], list[dict], list[str]]:
    """(records, runs, notes) from pytest-benchmark JSON files.

    A record is one benchmark of one run: workload, column (backend, version, device), median,
    min, rounds, flops, comparison target and graph memory. Benchmarks without a ``workload`` in
    their extra_info (not the suite's) are left out, with a note."""
    records, runs, notes = [], [], []
    for path in paths:
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ReportError(f"{path}: cannot read benchmark JSON ({exc})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
            raise ReportError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list); "
                              "write one with pytest --benchmarks or --benchmark-json")
        meta = doc.get("autograd_conformance") or {}
        machine = doc.get("machine_info") or {}
        runs.append({"file": str(path), "date": doc.get("datetime"), "meta": meta,
                     "cpu": (machine.get("cpu") or {}).get("brand_raw"),
                     "python": machine.get("python_version"), "node": machine.get("node"),
                     "pytest_benchmark": doc.get("version"),
                     "commit": (doc.get("commit_info") or {}).get("id")})
        foreign = 0
        for bench in doc["benchmarks"]:
            info, stats = bench.get("extra_info") or {}, bench.get("stats") or {}
            if "workload" not in info or "median" not in stats:
                foreign += 1
                continue
            records.append({
                "workload": info["workload"], "name": bench.get("fullname", bench.get("name")),
                "column": (info.get("backend") or meta.get("backend") or "?",
                           str(info.get("backend_version") or meta.get("backend_version") or "?"),
                           info.get("device") or "?"),
                "median": stats["median"], "min": stats.get("min"), "rounds": stats.get("rounds"),
                "flops": info.get("flops"), "compare_to": info.get("compare_to"),
                "comparison": info.get("comparison"),
                "graph_memory": "graph_saved_bytes" in info,  # measured, or null: no hook
                "graph_saved_bytes": info.get("graph_saved_bytes"),
                "graph_saved_intermediate_bytes": info.get("graph_saved_intermediate_bytes"),
                "file": str(path)})
        if foreign:
            notes.append(f"{path}: {foreign} benchmark(s) without a suite workload id left out")
    return records, runs, notes


def _table(records: list[dict], notes: list[str]):
    """workloads (ordered), columns (reference first), cell[(workload, column)] -> record."""
    cells: dict[tuple, dict] = {}
    for r in records:
        key = (r["workload"], r["column"])
        if key in cells:
            notes.append(f"{r['workload']} on {_label(r['column'])} measured more than once; "
                         f"shown: {cells[key]['file']}, left out: {r['file']}")
            continue
        cells[key] = r
    columns = list(dict.fromkeys(r["column"] for r in records))
    ref = next((c for c in columns if (c[0], c[2]) == REFERENCE), None)
    if ref is not None:
        columns.remove(ref)
        columns.insert(0, ref)
    workloads = list(dict.fromkeys(r["workload"] for r in records))
    return workloads, columns, ref, cells


def _label(column: tuple) -> str:
    backend, version, device = column
    return f"{backend} {version} · {device}"


def _short(column: tuple) -> str:
    return f"{column[0]} · {column[2]}"


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            value = seconds / scale
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:.0f} {unit}"
    return f"{seconds} s"  # unreachable


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "n/a"
    for unit, scale in (("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def gflops(record: dict) -> float | None:
    if not record.get("flops") or not record.get("median"):
        return None
    return record["flops"] / record["median"] / 1e9


def ratios(records: list[dict]) -> dict:
    """The numbers the Markdown table and the chart show."""
    notes: list[str] = []
    workloads, columns, ref, cells = _table(records, notes)
    vs_ref = {}  # (workload, column) -> ratio to the reference column on the same workload
    for (w, c), r in cells.items():
        base = cells.get((w, ref)) if ref else None
        vs_ref[w, c] = r["median"] / base["median"] if base else None
    within = []  # (label, baseline workload, workload, {column: ratio})
    for w in workloads:
        for c in columns:
            r = cells.get((w, c))
            if r is None or not r["compare_to"]:
                continue
            base = cells.get((r["compare_to"], c))
            if base is None:
                continue
            entry = next((e for e in within if e[2] == w), None)
            if entry is None:
                entry = (r["comparison"] or f"{w} / {r['compare_to']}", r["compare_to"], w, {})
                within.append(entry)
            entry[3][c] = r["median"] / base["median"]
    return {"workloads": workloads, "columns": columns, "reference": ref, "cells": cells,
            "vs_reference": vs_ref, "within": within, "notes": notes}


def markdown(records: list[dict], runs: list[dict], notes: list[str]) -> str:
    data = ratios(records)
    workloads, columns, ref, cells = (data[k] for k in ("workloads", "columns", "reference", "cells"))
    out = ["# Benchmarks of the seeds' workloads", ""]
    if not records:
        return "\n".join(out + ["No suite benchmark in the given files.", ""])
    ref_text = _short(ref) if ref else "torch · cpu (not in these files: no ratios)"
    out += [f"Median time of one call over pytest-benchmark's rounds on each backend · device; "
            f"`×` is the ratio to {ref_text} on the same workload (below 1: faster); GFLOP/s is "
            "the workload's matrix-product FLOPs divided by the median time. Every call ends with "
            "the result read back as numpy (lazy engines compute, devices synchronise).", ""]
    out.append("| workload | MFLOP | " + " | ".join(_label(c) for c in columns) + " |")
    out.append("|---|---:|" + "---:|" * len(columns))
    for w in workloads:
        flops = next((cells[w, c]["flops"] for c in columns if (w, c) in cells and cells[w, c]["flops"]), None)
        row = [f"`{w}`", f"{flops / 1e6:.2f}" if flops else "–"]
        for c in columns:
            r = cells.get((w, c))
            if r is None:
                row.append("·")
                continue
            parts = [fmt_time(r["median"])]
            ratio = data["vs_reference"].get((w, c))
            if ratio is not None:
                parts.append(_ratio(ratio))
            g = gflops(r)
            if g is not None:
                parts.append(f"{g:.1f} GFLOP/s")
            row.append(" · ".join(parts))
        out.append("| " + " | ".join(row) + " |")
    if data["within"]:
        out += ["", "## Within-run comparisons", "",
                "Median of the workload divided by the median of its baseline, on the same backend "
                "and device (below 1: the workload is faster).", "",
                "| comparison | workload / baseline | " + " | ".join(_short(c) for c in columns) + " |",
                "|---|---|" + "---:|" * len(columns)]
        for label, base, w, by_col in data["within"]:
            vals = [_ratio(by_col[c], 3) if c in by_col else "·" for c in columns]
            out.append(f"| {label} | `{w}` / `{base}` | " + " | ".join(vals) + " |")
    memory = [(w, c, cells[w, c]) for w in workloads for c in columns
              if (w, c) in cells and cells[w, c]["graph_memory"]]
    if memory:
        out += ["", "## Memory held by the graph", "",
                "Bytes of the distinct tensors saved for backward during one forward pass "
                "(torch: `saved_tensors_hooks`; n/a: the engine has no such hook). "
                "\"intermediates\" leaves out the inputs and parameters, which exist anyway.", "",
                "| workload | backend · device | saved for backward | intermediates only |",
                "|---|---|---:|---:|"]
        for w, c, r in memory:
            out.append(f"| `{w}` | {_short(c)} | {fmt_bytes(r['graph_saved_bytes'])} | "
                       f"{fmt_bytes(r['graph_saved_intermediate_bytes'])} |")
    out += ["", "## Runs", "",
            "Load average: the machine's 1/5/15-minute load at the end of the run; a load near or "
            "above the CPU count means other work competed for the cores and inflated the times.", "",
            "| file | backend | devices | date | machine | Python | threads | CPUs | load average |",
            "|---|---|---|---|---|---|---:|---:|---|"]
    for run in runs:
        meta = run["meta"]
        backend = f"{meta.get('backend', '?')} {meta.get('backend_version', '')}".strip()
        out.append(f"| `{run['file']}` | {backend} | {', '.join(meta.get('devices', [])) or '?'} | "
                   f"{run['date'] or '?'} | {run['cpu'] or run['node'] or '?'} | "
                   f"{run['python'] or '?'} | {meta.get('torch_threads', '–')} | "
                   f"{meta.get('cpu_count', '?')} | "
                   f"{' / '.join(map(str, meta['load_average'])) if meta.get('load_average') else '?'} |")
    all_notes = notes + data["notes"]
    if all_notes:
        out += ["", "Notes:", *[f"- {n}" for n in all_notes]]
    return "\n".join(out) + "\n"


def _ratio(v: float, digits: int = 2) -> str:
    if v >= 100:
        return f"{v:.0f}×"
    return f"{v:.{digits}f}×" if v >= 0.1 else f"{v:.{digits}g}×"
