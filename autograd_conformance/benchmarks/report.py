"""The benchmark report: per workload, the median time on every backend and device, its ratio to
the reference (torch on the CPU), GFLOP/s and its fraction of the run's matrix-product peak
(peak.py), and graph memory, from pytest-benchmark JSON files; written as benchmarks.md beside the
chart (chart.py) as benchmarks.svg. ``readme_table`` is the short table of GFLOP/s and fractions
that README.md shows."""

from __future__ import annotations

import json
from pathlib import Path

from autograd_conformance.benchmarks import peak

REPORT_FILES = ("benchmarks.md", "benchmarks.svg")
REFERENCE = ("torch", "cpu")  # backend, device every other column is compared with


class ReportError(Exception):
    """A benchmark JSON file could not be read; the message says which and why."""


def load(paths: list[Path]) -> tuple[list[dict], list[dict], list[str]]:
    """(records, runs, notes) from pytest-benchmark JSON files.

    A record is one benchmark of one run: workload, column (backend, version, device), median,
    min, rounds, flops, GFLOP/s and fraction of the run's peak (computed again here from the
    medians: peak.annotate), comparison target and graph memory. Benchmarks without a ``workload``
    in their extra_info (not the suite's) are left out, with a note."""
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
        peak.annotate(doc["benchmarks"])  # each file is one run: its own peaks
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
                "flops": info.get("flops"), "gflops": info.get("gflops"),
                "fraction_of_peak": info.get("fraction_of_peak"), "peak": info.get("peak"),
                "dtype": info.get("dtype"), "compare_to": info.get("compare_to"),
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


def fmt_fraction(fraction: float) -> str:
    percent = 100 * fraction
    return f"{percent:.2g}%" if percent < 10 else f"{percent:.0f}%"


def fmt_rate(record: dict) -> str | None:
    """"12.3 GFLOP/s, 31% of peak"; "85.0 GFLOP/s (peak)" for a peak itself (its fastest round's
    rate); None without FLOPs."""
    if record.get("gflops") is None:
        return None
    rate = f"{record['gflops']:.1f} GFLOP/s"
    if record.get("peak"):
        return f"{rate} (peak)" if record["peak"] == peak.ENGINE else f"{rate} (numpy peak)"
    if record.get("fraction_of_peak") is None:
        return rate
    return f"{rate}, {fmt_fraction(record['fraction_of_peak'])} of peak"


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
            "the workload's matrix-product FLOPs divided by the median time, and `% of peak` that "
            "rate's fraction of a matrix product's alone (`matmul_peak`) on the same backend · device "
            "in the same run (see Peak below). Every call ends with the result read back as numpy "
            "(lazy engines compute, devices synchronise).", ""]
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
            rate = fmt_rate(r)
            if rate is not None:
                parts.append(rate)
            row.append(" · ".join(parts))
        out.append("| " + " | ".join(row) + " |")
    out += _peak_section(records, columns)
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


def _peaks(records: list[dict]) -> dict:
    """(column, kind) -> the peak record (several files with one column: the first, as the table)."""
    found: dict[tuple, dict] = {}
    for r in records:
        if r["peak"] and r["gflops"] is not None:
            found.setdefault((r["column"], r["peak"]), r)
    return found


def _peak_section(records: list[dict], columns: list[tuple]) -> list[str]:
    peaks = _peaks(records)
    columns = [c for c in columns if any((c, kind) in peaks for kind in (peak.ENGINE, peak.NUMPY))]
    if not columns:
        return ["", "No `matmul_peak` benchmark in these files: no fraction of peak."]
    out = ["", "## Peak: the matrix product", "",
           "What a square matrix product alone reaches, measured in the same run as the workloads: "
           "through the adapter in the workloads' dtype (`matmul_peak[n]`, n = 512 on a host CPU, "
           "4096 on an accelerator), and numpy's product on the host (the machine's BLAS; the peak "
           "of the workloads that run in numpy); each the FLOPs over its fastest round (other work "
           "only adds time). A workload's `% of peak` is its GFLOP/s (from its median) divided by "
           "the peak of its backend · device and run: the machine's speed and its load at the time "
           "cancel out, so fractions compare across machines and runs where times do not.", "",
           "| backend · device | dtype | matrix product through the adapter | numpy (host) | adapter / numpy |",
           "|---|---|---:|---:|---:|"]
    for c in columns:
        engine, numpy = peaks.get((c, peak.ENGINE)), peaks.get((c, peak.NUMPY))
        rates = [f"{r['gflops']:.1f} GFLOP/s" if r else "·" for r in (engine, numpy)]
        ratio = fmt_fraction(engine["gflops"] / numpy["gflops"]) if engine and numpy else "·"
        out.append(f"| {_label(c)} | {(engine or numpy)['dtype'] or '?'} | {rates[0]} | {rates[1]} | {ratio} |")
    return out


def readme_table(records: list[dict], runs: list[dict]) -> str:
    """The short table README.md shows: per workload with a FLOP count, its fraction of the peak and
    GFLOP/s on every backend · device; the peaks first; a line on the runs it comes from."""
    data = ratios(records)
    workloads, columns, cells = data["workloads"], data["columns"], data["cells"]
    rows = sorted((w for w in workloads if any(cells.get((w, c), {}).get("gflops") for c in columns)),
                  key=lambda w: not any(cells.get((w, c), {}).get("peak") for c in columns))
    dates = sorted({str(r["date"])[:10] for r in runs if r["date"]})
    loads = [r["meta"]["load_average"][0] for r in runs if r["meta"].get("load_average")]
    cpus = sorted({str(r["meta"]["cpu_count"]) for r in runs if r["meta"].get("cpu_count")})
    machines = sorted({r["cpu"] or r["node"] for r in runs if r["cpu"] or r["node"]})
    out = [f"_{len(runs)} run(s) of `pytest --benchmarks`"
           + (f", {' to '.join(dates[::max(1, len(dates) - 1)])}" if dates else "")
           + (f", {' / '.join(machines)}" if machines else "")
           + (f" with {'/'.join(cpus)} CPUs" if cpus else "")
           + (f", 1-minute load average {min(loads):g}-{max(loads):g} at their ends" if loads else "")
           + ". Cells: fraction of the peak · GFLOP/s; the `matmul_peak` rows: the peak, GFLOP/s._", "",
           "| workload | " + " | ".join(_label(c) for c in columns) + " |",
           "|---|" + "---:|" * len(columns)]
    for w in rows:
        row = []
        for c in columns:
            r = cells.get((w, c))
            if r is None or r["gflops"] is None:
                row.append("·")
            elif r["peak"] or r["fraction_of_peak"] is None:
                row.append(f"{r['gflops']:.1f} GFLOP/s")
            else:
                row.append(f"{fmt_fraction(r['fraction_of_peak'])} · {r['gflops']:.1f}")
        out.append(f"| `{w}` | " + " | ".join(row) + " |")
    return "\n".join(out) + "\n"
