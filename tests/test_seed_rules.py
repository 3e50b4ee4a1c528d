"""The rules that tie the suite to the seeds, checked on the registry and the collected suite:

- every value claim the seeds show at their own numbers (claims.VALUE_CLAIMS) has tests at those
  numbers and tests on random inputs (drawn from the rng fixture or Hypothesis);
- every operation the seeds' models use (models.SEED_COMPUTATIONS) is checked against numpy in
  float32 and float64, at the seeds' numbers and at random ones;
- every claim about modules in general (claims.LAYER_CLAIMS) runs on each layer kind the seeds use
  (models.SEED_LAYER_KINDS);
- a source that cites a cell number the seed gives to two cells says which one;
- every source names a cell or a section title that its seed has (tests/seed_index.json: each
  seed's cells in order and its section titles, parsed once from the seeds, which stay outside
  the project);
- a claim that goes beyond the seeds says what it extends and the documentation it rests on."""

import json
import pathlib
import re
from collections import defaultdict

import pytest

from autograd_conformance import models
from autograd_conformance.claims import CLAIMS, DUPLICATE_CELLS, LAYER_CLAIMS, VALUE_CLAIMS


@pytest.fixture(scope="module")
def items(suite_items):
    return suite_items


def _by_claim(items):
    grouped = defaultdict(list)
    for item in items:
        grouped[item["claim"]].append(item)
    return grouped


def test_value_claims_have_seed_and_random_inputs(items):
    grouped = _by_claim(items)
    problems = []
    for cid in sorted(VALUE_CLAIMS):
        assert cid in CLAIMS, f"VALUE_CLAIMS names an unknown claim {cid}"
        tests = grouped[cid]
        kinds = {k for t in tests for k in t["inputs"]}
        if not {"seed", "random"} <= kinds:
            problems.append(f"{cid}: inputs marked {sorted(kinds)}, needs seed and random")
        unmarked = [t["nodeid"] for t in tests if not t["inputs"]]
        if unmarked:
            problems.append(f"{cid}: tests without an inputs marker: {unmarked}")
        fake = [t["nodeid"] for t in tests if "random" in t["inputs"]
                and not (t["hypothesis"] or "rng" in t["fixtures"])]
        if fake:
            problems.append(f"{cid}: marked random but neither rng nor Hypothesis: {fake}")
    assert not problems, "\n".join(problems)


def test_inputs_markers_are_known(items):
    wrong = [(t["nodeid"], t["inputs"]) for t in items if set(t["inputs"]) - {"seed", "random"}]
    assert not wrong, wrong


def test_every_seed_operation_is_checked_against_numpy_in_both_precisions(items):
    seen = {(t["params"].get("op"), t["params"].get("dtype"), t["params"].get("case"))
            for t in items if (t["claim"] or "").startswith("ops.")}
    missing = [(op, dtype, case) for op in models.SEED_COMPUTATIONS for dtype in ("float32", "float64")
               for case in ("seed", "random") if (op, dtype, case) not in seen]
    assert not missing, f"operations of the seeds' models not checked against numpy: {missing}"
    unknown = {op for op, _, _ in seen} - set(models.SEED_COMPUTATIONS) - {None}
    assert not unknown, f"ops tests name operations missing from models.SEED_COMPUTATIONS: {unknown}"


def test_layer_claims_run_on_every_seed_layer_kind(items):
    grouped = _by_claim(items)
    problems = {}
    for cid in sorted(LAYER_CLAIMS):
        kinds = {t["params"].get("kind") for t in grouped[cid]}
        missing = set(models.SEED_LAYER_KINDS) - kinds
        if missing:
            problems[cid] = sorted(missing)
    assert not problems, f"module claims not run on every layer kind the seeds use: {problems}"


def test_duplicate_cell_numbers_are_cited_unambiguously():
    problems = []
    for cid, c in CLAIMS.items():
        for source in c.source:
            seed, _, rest = source.partition(" ")
            m = re.fullmatch(r"In \[(\d+)\]( \(the (first|second)\))?", rest)
            if m and int(m[1]) in DUPLICATE_CELLS.get(seed, ()) and not m[2]:
                problems.append(f"{cid}: {source} (the seed has two cells In [{m[1]}]: say which)")
    assert not problems, "\n".join(problems)


SEED_INDEX = json.loads((pathlib.Path(__file__).parent / "seed_index.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("cid", sorted(CLAIMS))
def test_sources_name_cells_and_sections_the_seeds_have(cid):
    for source in CLAIMS[cid].source:
        seed, _, rest = source.partition(" ")
        index = SEED_INDEX[seed]
        if rest.startswith("§ "):
            assert rest[2:] in index["sections"], \
                f"{source}: the seed has no section titled {rest[2:]!r}; it has {index['sections']}"
            continue
        m = re.fullmatch(r"(In \[(?:\d+|None)\])(?: \(the (first|second)\))?", rest)
        assert m, f"{source}: cite a cell as 'In [n]' (with '(the first)' or '(the second)' where two share n)"
        count = index["cells"].count(m[1])
        assert count, f"{source}: the seed has no cell {m[1]}; it has {sorted(set(index['cells']))}"
        assert count == 1 or m[2], f"{source}: the seed has {count} cells {m[1]}: say which"
        assert m[2] != "second" or count > 1, f"{source}: the seed has one cell {m[1]}"


def test_duplicate_cells_are_those_of_the_seed_index():
    found = {seed: frozenset(int(c[4:-1]) for c in index["cells"]
                             if index["cells"].count(c) > 1 and c[4:-1].isdigit())
             for seed, index in SEED_INDEX.items()}
    assert {s: f for s, f in found.items() if f} == DUPLICATE_CELLS


@pytest.mark.parametrize("cid", sorted(CLAIMS))
def test_generalisations_name_their_documentation(cid):
    text = CLAIMS[cid].generalises
    if text:
        assert "https://" in text, f"{cid}: say which documentation the generalisation rests on (a link)"
