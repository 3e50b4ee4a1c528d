"""The documentation's code runs, and its links lead somewhere: the adapter guide's example adapter
(docs/adapter-guide.md) is written out as the module it names and the suite runs on it, every claim
it reaches holding; the example expectation file (docs/expectations.md) loads, and every TOML block
of the pages parses; every page under docs/ is linked from README.md, and every relative link in
README.md and docs/*.md names an existing file (and, after '#', a heading of it, GitHub's slug)."""

import os
import re
import tomllib
from pathlib import Path

import pytest

from autograd_conformance import expectations
from autograd_conformance.outcomes import BAD, NA, PARTIAL, PASS
from tests.conformance_run import run_suite_cases

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "adapter-guide.md"
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))


def _example(name: str) -> str:
    """The ```python block of the guide whose first line is '# <name>'."""
    for block in re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S):
        if block.startswith(f"# {name}\n"):
            return block
    raise AssertionError(f"{GUIDE.name} has no python block starting with '# {name}'")


@pytest.mark.slow  # a conformance run of the example adapter
@pytest.mark.timeout(600)
def test_the_adapter_guides_example_runs(tmp_path):
    (tmp_path / "docs_example.py").write_text(_example("docs_example.py"), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    code, cases, output = run_suite_cases(tmp_path, "--backend", "docs_example:TorchFuncBackend",
                                          suites=["suites/test_backward.py", "suites/test_ops.py"], env=env)
    assert cases, output[-3000:]
    bad = {t: c["message"][:300] for t, c in cases.items() if c["outcome"] in BAD}
    assert not bad and code == 0, f"the guide's example must hold every claim it reaches: {bad}"
    by_claim = {}
    for case in cases.values():
        by_claim.setdefault(case["claim"], []).append(case["outcome"])
    assert sorted(by_claim["backward.mean-of-3-squares"]) == sorted([PASS] * 3 + [NA] * 2), \
        "vjp runs, backward does not apply"
    assert all(o in (PASS, NA) for o in by_claim["ops.matmul-matches-numpy"]), "matmul: the tensor's @"
    assert PARTIAL not in by_claim, "outcomes are per test here"


# --- links ------------------------------------------------------------------------------------

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+)((?:(?!\n\s*\n).)+?)\1", re.S)  # may wrap, never across a blank line
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def _prose(path: Path) -> list[str]:
    """The file's lines outside fenced code blocks."""
    lines, fenced = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        m = FENCE.match(line)
        if m and (fenced is None or m.group(1) == fenced):
            fenced = m.group(1) if fenced is None else None
        elif fenced is None:
            lines.append(line)
    return lines


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text (code spans and links by their text), lower case,
    punctuation dropped but for '-' and '_', spaces as '-'."""
    text = CODE_SPAN.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    for line in _prose(path):
        m = HEADING.match(line)
        if m:
            slug = _slug(m.group(2))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            if n:
                seen.setdefault(f"{slug}-{n}", 1)
    return set(seen)


def _links(path: Path) -> list[str]:
    """The targets of the file's inline links, their text wrapped or not (code blocks and code spans
    are not links)."""
    return [m.group(1) for m in LINK.finditer(CODE_SPAN.sub("", "\n".join(_prose(path))))]


def _resolve(path: Path, target: str) -> tuple[Path, str]:
    file, _, anchor = target.partition("#")
    return (path if not file else (path.parent / file).resolve()), anchor


def test_the_link_checker_reads_markdown_as_github_does(tmp_path):
    assert _slug("An example: PyTorch's `torch.func` as an engine of its own") == \
        "an-example-pytorchs-torchfunc-as-an-engine-of-its-own"
    assert _slug("The rules `tests/test_seed_rules.py` keeps") == "the-rules-teststest_seed_rulespy-keeps"
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n```sh\n# not a heading [a](fenced.md)\n```\n\n## Title\n\n"
                    "`[b](span.md)` [c, its text\nwrapped](x.md#title-1) ![d](<y.png> \"t\")\n", encoding="utf-8")
    assert _links(page) == ["x.md#title-1", "y.png"]
    assert _anchors(page) == {"title", "title-1"}


def test_every_page_is_linked_from_the_readme():
    assert PAGES, "docs/ has no pages"
    linked = {_resolve(README, t)[0] for t in _links(README) if not SCHEME.match(t)}
    missing = [p.name for p in PAGES if p.resolve() not in linked]
    assert not missing, f"README.md links no docs/ page named {missing}: list each under 'Documentation'"


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_lead_to_a_file_and_heading(path):
    links = _links(path)
    assert links, f"{path.name} has no links: the link parser is broken"
    broken = []
    for target in links:
        if SCHEME.match(target):
            continue
        file, anchor = _resolve(path, target)
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (file.suffix != ".md" or anchor not in _anchors(file)):
            broken.append(f"{target}: {file.name} has no heading with the anchor #{anchor}")
    assert not broken, f"{path.relative_to(ROOT)}: broken links:\n" + "\n".join(broken)


# --- the pages' code ---------------------------------------------------------------------------

def _blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", path.read_text(encoding="utf-8"), re.S | re.M)


def test_the_example_expectation_file_loads(tmp_path):
    page = ROOT / "docs" / "expectations.md"
    blocks = [b for b in _blocks(page, "toml") if b.startswith("# myengine_expectations.toml\n")]
    assert len(blocks) == 1, f"{page.name} has no ```toml block starting '# myengine_expectations.toml'"
    path = tmp_path / "myengine_expectations.toml"
    path.write_text(blocks[0], encoding="utf-8")
    entries = expectations.load(path)
    assert [e.kind for e in entries] == [expectations.EXPECTED_FAILURE] * 2 + [expectations.NONDETERMINISTIC]
    assert [e.device for e in entries] == [None, "cuda", None]
    assert entries[1].test == "test_backward.py::test_mse_loss[sum]"


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_every_toml_block_parses(path):
    for block in _blocks(path, "toml"):
        tomllib.loads(block)


def test_the_readmes_package_map_matches_the_package():
    """README's "Project layout" has a row for each module and subpackage of autograd_conformance
    (a subpackage's modules are named in its row), and each row's path exists."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Project layout"):]
    rows = dict(re.findall(r"^\| `([^`]+)` \| (.*) \|$", section, re.M))
    assert all((ROOT / path.rstrip("/")).exists() for path in rows), \
        f"rows for paths that do not exist: {[p for p in rows if not (ROOT / p.rstrip('/')).exists()]}"
    package = ROOT / "autograd_conformance"
    for entry in sorted(package.iterdir()):
        if entry.name.startswith("__") or entry.suffix not in (".py", "") or not (entry.suffix or entry.is_dir()):
            continue
        key = f"autograd_conformance/{entry.name}" + ("/" if entry.is_dir() else "")
        assert key in rows, f"README's package map has no row for {key}"
        if entry.is_dir() and entry.name != "backends":
            for module in sorted(entry.glob("*.py")):
                if not module.name.startswith("__init"):
                    assert f"`{module.stem}`" in rows[key], f"{key}'s row does not name {module.stem}"
