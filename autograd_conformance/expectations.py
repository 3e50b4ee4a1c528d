"""Expectation files: a backend's known deviations from the seeds' claims.

A TOML file of entries of two kinds, each with the same keys::

    [[expected_failure]]                              # the engine deviates, every time
    claim = "accumulation.second-backward-adds"      # required: a claim id
    test = "test_accumulation.py::test_second_backward_adds"  # optional: one test of the claim
    device = "cpu"                                    # optional: only on this device
    reason = "backward() overwrites .grad"            # required: what the engine does instead
    link = "https://..."                              # optional: the engine's issue or docs

    [[nondeterministic]]                              # the engine deviates only sometimes
    claim = "determinism.same-seed-same-training"
    test = "test_determinism.py::test_same_seed_same_training[sgd]"
    reason = "parallel reductions sum in a different order from run to run"

``[[expected_failure]]`` entries mark their tests ``xfail(strict=True)``: a listed failure reports
as an expected failure, and one that passes fails the run as XPASS(strict), so the file can be
tightened. ``[[nondeterministic]]`` entries mark them ``xfail(strict=False)``: the test reports as
*nondeterministic* whether it failed or passed this time, never as a pass and never as a failure.

``test`` names ``<file name>::<function name>`` (every variant of the function; pytest's node id,
``suites/test_backward.py::...``, is read without its folders) or one
parametrized variant, ``<file name>::<function name>[<id>]``, where ``<id>`` is pytest's id of the
variant *without the device part* (``test_mse_loss[mean]`` for pytest's ``test_mse_loss[cpu-mean]``
and ``test_mse_loss[cuda-mean]``; the ``device`` key selects a device). pytest's full id, device
included (``test_mse_loss[cpu-mean]``), is accepted too and matches that device only.
*Not applicable* is never written here: it follows from the adapter's declared capabilities.

An entry that can match no test is a usage error, never ignored: an unknown claim, file, test or
device name, a repeated entry, an entry listed as both kinds (``load`` and the plugin's check
after collection, ``unmatched``).
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from autograd_conformance import claims
from autograd_conformance.outcomes import NONDET, XFAIL

KEYS = {"claim", "test", "device", "reason", "link"}
EXPECTED_FAILURE, NONDETERMINISTIC = XFAIL, NONDET  # the outcomes their tests come to
TABLES = {"expected_failure": EXPECTED_FAILURE, "nondeterministic": NONDETERMINISTIC}  # table -> kind
TEST_NAME = re.compile(r"[^:\[\]]+::[^:\[\]]+(\[.+\])?")


class ExpectationsError(Exception):
    """The file is missing or malformed; the message names the entry and the fix."""


@dataclass(frozen=True)
class Expectation:
    claim: str
    reason: str
    test: str | None = None
    device: str | None = None
    link: str | None = None
    kind: str = EXPECTED_FAILURE

    def matches(self, claim: str | None, keys: set[str] | str, device: str | None) -> bool:
        """keys: the names of a test an entry's ``test`` may use (see ``item_keys``)."""
        keys = {keys} if isinstance(keys, str) else keys
        return (claim == self.claim and (self.test is None or self.test in keys)
                and (self.device is None or self.device == device))

    def describe(self) -> str:
        where = f" [{self.test}]" if self.test else ""
        return f"{self.claim}{where}: {self.reason}" + (f" ({self.link})" if self.link else "")


def load(path: str | Path) -> list[Expectation]:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExpectationsError(f"expectations file {path} does not exist") from None
    except IsADirectoryError:
        raise ExpectationsError(f"expectations file {path} is a directory: pass a TOML file "
                                "such as autograd_conformance/backends/mygrad_expectations.toml") from None
    except UnicodeDecodeError as exc:
        raise ExpectationsError(f"expectations file {path} is not UTF-8 text ({exc.reason} at byte "
                                f"{exc.start}): save it as UTF-8") from None
    except OSError as exc:
        raise ExpectationsError(f"expectations file {path} cannot be read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ExpectationsError(f"expectations file {path} is not valid TOML: {exc}") from None
    allowed = " and ".join(f"[[{t}]]" for t in TABLES)
    unknown_tables = set(data) - set(TABLES)
    if unknown_tables:
        raise ExpectationsError(f"{path}: unknown table(s) {sorted(unknown_tables)}; "
                                f"only {allowed} entries are allowed")
    result, places = [], []
    for table, kind in TABLES.items():
        entries = data.get(table, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ExpectationsError(f"{path}: write each entry as a table [[{table}]] with keys "
                                    f"{sorted(KEYS)}, not [{table}] or {table} = ...")
        for n, entry in enumerate(entries, 1):
            where = f"{path}: [[{table}]] entry {n}"
            result.append(_entry(entry, kind, where))
            places.append(where)
    _check_repeats(result, places)
    return result


def _check_repeats(entries: list[Expectation], places: list[str]) -> None:
    """Two entries for the same tests: a repeat of one kind, or one listed as both kinds."""
    first: dict[tuple, int] = {}
    for n, entry in enumerate(entries):
        key = (entry.claim, entry.test, entry.device)
        if key not in first:
            first[key] = n
            continue
        earlier = entries[first[key]]
        what = (f"repeats {places[first[key]]}" if earlier.kind == entry.kind else
                f"lists the tests of {places[first[key]]} as {entry.kind} too: a test is either an "
                f"expected failure (it fails every time) or nondeterministic (it fails sometimes)")
        raise ExpectationsError(f"{places[n]} ({entry.claim}{f' [{entry.test}]' if entry.test else ''}"
                                f"{f' on {entry.device}' if entry.device else ''}) {what}; keep one entry")


def _entry(entry: dict, kind: str, where: str) -> Expectation:
    extra = set(entry) - KEYS
    if extra:
        raise ExpectationsError(f"{where} has unknown key(s) {sorted(extra)}; allowed: {sorted(KEYS)}")
    for key in ("claim", "reason"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ExpectationsError(f"{where} needs a non-empty string '{key}'")
    for key in ("test", "device", "link"):
        if key in entry and not isinstance(entry[key], str):
            raise ExpectationsError(f"{where}: '{key}' must be a string, not {entry[key]!r}")
    if "test" in entry and "::" in entry["test"]:  # pytest's node id names the file with its folder
        file, _, rest = entry["test"].partition("::")
        entry = {**entry, "test": f"{Path(file).name}::{rest}"}
    if "test" in entry and not TEST_NAME.fullmatch(entry["test"]):
        raise ExpectationsError(f"{where}: test {entry['test']!r} must read '<file>::<function>' or "
                                "'<file>::<function>[<id>]', e.g. 'test_backward.py::test_mse_loss[mean]'")
    try:
        claims.known(entry["claim"], where)
    except claims.UnknownClaim as exc:
        raise ExpectationsError(str(exc)) from None
    return Expectation(**entry, kind=kind)


def item_key(item) -> str:
    """How an entry names every variant of a test: '<file name>::<function name>'."""
    return f"{Path(str(item.path)).name}::{getattr(item, 'originalname', item.name)}"


def variant_id(item) -> str | None:
    """pytest's id of a parametrized test without the device part ('mean' for 'cpu-mean');
    '' when the device is its only parameter, None for a test without parameters."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    device = callspec.params.get("device")
    parts = list(getattr(callspec, "_idlist", None) or [callspec.id])
    if device is not None and device in parts:  # the plugin parametrizes device with ids=devices
        parts.remove(device)
    return "-".join(parts)


def item_keys(item) -> set[str]:
    """Every name an entry's ``test`` may use for this item: the function, the variant without
    its device, and pytest's full id (device included)."""
    base = item_key(item)
    keys = {base}
    variant = variant_id(item)
    if variant:
        keys.add(f"{base}[{variant}]")
    if getattr(item, "callspec", None) is not None:
        keys.add(f"{base}[{item.callspec.id}]")
    return keys


# Device names of the engines' ids (cuda:1 included) that need not exist on this machine.
DEVICES = r"(cpu|cuda|gpu|mps|xpu|hip|rocm|tpu|npu|metal|opencl|vulkan|webgpu|python)(:\d+)?"
DEVICE_LIKE = re.compile(DEVICES, re.IGNORECASE)
DEVICE_NAME = re.compile(DEVICES)  # an entry's device: as the engines spell them, or one listed here


def device_free_names(test: str, devices=()) -> set[str]:
    """An entry's test name, and the names it has with one device part (one of ``devices``, or a
    usual device name) removed from its id. For the stale-entry check: 'f.py::t[cuda-b]' names a
    test that exists (as 'f.py::t[b]') also when this run is on other devices, or this machine
    has no such device."""
    base, bracket, ident = test.partition("[")
    names = {test}
    if bracket:
        parts = ident[:-1].split("-")
        for i, part in enumerate(parts):
            if part in devices or DEVICE_LIKE.fullmatch(part):
                rest = parts[:i] + parts[i + 1:]
                names.add(f"{base}[{'-'.join(rest)}]" if rest else base)
    return names


def suite_files() -> set[str]:
    """The names of the suite's test files (checkout or installed copy)."""
    spec = importlib.util.find_spec("autograd_conformance.suites")
    folders = spec.submodule_search_locations if spec is not None else []
    return {p.name for folder in folders or [] for p in Path(folder).glob("test_*.py")}


def unmatched(entries: list[Expectation], names: set[tuple[str, str]], collected_files: set[str],
              devices: list[str], partial: bool) -> list[str]:
    """What is wrong with each entry that can match no test of the run, as a sentence naming the
    fix. names: (claim, name) for every name an entry's test may use (``item_keys``);
    collected_files: the files this run collected; devices: the backend's and the run's devices;
    partial: node ids selected single tests (other tests of their files were not collected)."""
    problems = []
    files = suite_files() | collected_files
    for e in entries:
        if e.device is not None and e.device not in devices and not DEVICE_NAME.fullmatch(e.device):
            near = difflib.get_close_matches(e.device, devices, n=1)
            problems.append(f"{e.describe()}: device {e.device!r} is no device name (this backend has "
                            f"{', '.join(devices)}){f'; did you mean {near[0]!r}' if near else ''}")
        if not e.test:
            continue
        file = e.test.split("::")[0]
        if file not in files:
            near = difflib.get_close_matches(file, sorted(files), n=1)
            problems.append(f"{e.describe()}: the suite has no test file {file!r}"
                            f"{f'; did you mean {near[0]!r}' if near else ''}")
        elif file in collected_files and not partial and \
                not any((e.claim, n) in names for n in device_free_names(e.test, devices)):
            tests = sorted(n for c, n in names if c == e.claim and n.startswith(file + "::") and "[" not in n)
            problems.append(f"{e.describe()}: no test of claim {e.claim} has this name"
                            f"{f' (its tests in {file}: ' + ', '.join(tests) + ')' if tests else ''}")
    return problems


def choose_file(config) -> tuple[str | None, str | None]:
    """(file to load, value for --expectations in rerun lines): --expectations FILE, or else the
    file a built-in backend ships; --expectations none turns that off."""
    given = config.getoption("expectations")
    name = config.getoption("backend")
    shipped = None
    from autograd_conformance.registry import BUILTIN
    if name in BUILTIN:
        from autograd_conformance import backends
        candidate = Path(backends.__file__).with_name(f"{name}_expectations.toml")
        shipped = candidate if candidate.is_file() else None
    if given is not None and given.strip().lower() == "none":
        return None, "none" if shipped else None
    if given is not None:
        return given, given
    if shipped is None:
        return None, None
    here = config.invocation_params.dir
    return str(shipped), os.path.relpath(shipped, here) if shipped.is_relative_to(here) else str(shipped)
