"""The conformance reports (autograd_conformance.report): what every run leaves in --report-dir,
and the merge command. Each test runs a tiny fake suite through pytester."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from autograd_conformance.report import __main__ as report_cli, document, markdown
from autograd_conformance.claims import CLAIMS

SCHEMA = json.loads(document.SCHEMA_PATH.read_text(encoding="utf-8"))
CHROMIUM = Path("/usr/bin/chromium")

# The reference adapter without graph nodes: claims that need them are not applicable.
BACKEND_MODULE = """
from autograd_conformance.backends.torch_backend import TorchBackend
from autograd_conformance.protocol import Capability

class NoGraphBackend(TorchBackend):
    name = "nograph"
    capabilities = frozenset(Capability) - {Capability.GRAPH_NODES, Capability.OPTIMIZER_GRADIENTS}
"""

# An engine-free adapter: xdist workers that load it start fast.
STUB_BACKEND_MODULE = """
class StubBackend:
    name, version, capabilities = "stub", "1.0", frozenset()
    default_float, tolerances = "float32", {}

    def available_devices(self):
        return ["cpu"]

    def seed(self, n):
        pass

    def tensor(self, data, *, device, dtype=None, requires_grad=False):
        return data

    def _unused(self, *args, **kwargs):
        raise NotImplementedError("the stub backend only runs tests that use no operations")

    to_numpy = device_of = sum = mean = relu = exp = where = reshape = max_pool2d = _unused
    mse_loss = cross_entropy = bce_with_logits = vjp = _unused
"""

FAKE_SUITE = """
import time
import numpy as np
import pytest

claim = pytest.mark.claim

@claim("backward.sum-is-zero-dim")
def test_passes(B, device):
    assert B.to_numpy(B.sum(B.tensor(np.ones(3), device=device))).shape == ()

@claim("backward.mean-of-3-squares")
def test_fails(B, device):
    assert 1 + 1 == 3, "deliberately broken: expected 3"

@claim("backward.mean-of-3-squares")
def test_same_claim_passes(B, device):
    pass

@claim("graph.leaf-has-no-node")
def test_needs_graph_nodes(B, device):
    assert B.grad_fn(B.tensor(np.ones(2), device=device, requires_grad=True)) is None

@claim("backward.chain-rule-40")
@pytest.mark.xfail(reason="known gap", strict=True)
def test_xfail(B, device):
    assert False

@claim("backward.matmul-vector-shape")
@pytest.mark.xfail(reason="was a gap", strict=False)
def test_xpass(B, device):
    pass

@claim("backward.vjp-seed-vector")
def test_timeout(B, device):
    time.sleep(30)

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown broke")

@claim("backward.vjp-linear-in-seed")
def test_teardown_error(B, device, broken_teardown):
    pass

def test_not_a_conformance_test():
    pass
"""

NO_TIMEOUT = "--deselect=test_fake.py::test_timeout[cpu]"  # -k cannot: every test has a timeout mark

EXPECTED = {
    "backward.sum-is-zero-dim": "pass",
    "backward.mean-of-3-squares": "fail",
    "graph.leaf-has-no-node": "not applicable",
    "backward.chain-rule-40": "expected failure",
    "backward.matmul-vector-shape": "unexpected pass",
    "backward.vjp-seed-vector": "timeout",
    "backward.vjp-linear-in-seed": "error",
}


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makepyfile(fakebackend=BACKEND_MODULE, stubbackend=STUB_BACKEND_MODULE,
                        test_fake=FAKE_SUITE)
    pytester.syspathinsert()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [
        str(pytester.path), os.environ.get("PYTHONPATH")])))
    return pytester


def run(pytester, *args, backend="fakebackend:NoGraphBackend", report_dir="reports", **kwargs):
    result = pytester.runpytest("-p", "autograd_conformance.plugin", "-p", "no:cacheprovider", "-p", "no:randomly", "--backend", backend,
                                "--report-dir", report_dir, *args, **kwargs)
    return result, pytester.path / report_dir


def load(directory: Path) -> dict:
    data = json.loads((directory / "conformance.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, SCHEMA)
    return data


def outcomes(data: dict) -> dict[str, str]:
    return {c["id"]: c["outcome"] for c in data["claims"]}


def test_schema_is_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_run_report_json(suite):
    result, out = run(suite, "--conformance-timeout", "3", "--junitxml", "junit.xml")  # quick tests stay quick on a loaded machine
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*conformance reports written to reports*conformance.json*"])
    data = load(out)
    assert outcomes(data) == EXPECTED
    assert data["backend"]["name"] == "nograph" and data["devices"] == ["cpu"]
    assert data["complete"] is True and data["incomplete_reason"] is None
    assert data["collected"] == data["finished"] == 9
    assert data["totals"]["tests"] == {"pass": 3, "fail": 1, "adapter error": 0, "crash": 0, "timeout": 1,
                                       "out of resources": 0,
                                       "error": 1, "unexpected pass": 1, "expected failure": 1,
                                       "nondeterministic": 0, "partly checked": 0, "blocked": 0,
                                       "too large": 0, "skipped": 0, "not applicable": 1}
    assert data["totals"]["claims"]["fail"] == 1 and data["totals"]["claims"]["pass"] == 1
    assert [t["nodeid"] for t in data["unclaimed"]] == ["test_fake.py::test_not_a_conformance_test"]
    assert set(data["untested_claims"]) == set(CLAIMS) - set(EXPECTED)

    failing = next(c for c in data["claims"] if c["id"] == "backward.mean-of-3-squares")
    assert failing["statement"] == CLAIMS[failing["id"]].statement
    assert failing["source"] == list(CLAIMS[failing["id"]].source)
    assert "deliberately broken: expected 3" in failing["summary"]
    assert "deliberately broken" in failing["message"]
    # the adapter was found through pytester's PYTHONPATH: the line carries it
    assert failing["rerun"] == (f"PYTHONPATH={suite.path} pytest -p autograd_conformance.plugin --backend "
                                "fakebackend:NoGraphBackend --device cpu --no-report 'test_fake.py::test_fails[cpu]'")
    assert {t["nodeid"]: t["outcome"] for t in failing["tests"]} == {
        "test_fake.py::test_fails[cpu]": "fail", "test_fake.py::test_same_claim_passes[cpu]": "pass"}
    assert {k: v for k, v in failing["counts"].items() if v} == {"tests": 2, "ran": 2, "pass": 1, "fail": 1}
    by_id = {c["id"]: c for c in data["claims"]}
    assert "Timeout" in by_id["backward.vjp-seed-vector"]["summary"]
    assert "teardown broke" in by_id["backward.vjp-linear-in-seed"]["message"]
    assert by_id["graph.leaf-has-no-node"]["summary"].startswith("not applicable")
    assert by_id["backward.sum-is-zero-dim"]["message"] is None

    junit = (suite.path / "junit.xml").read_text(encoding="utf-8")
    assert junit.count("<testcase") >= 9 and "backward.mean-of-3-squares" in junit


def test_run_report_markdown_and_html(suite):
    result, out = run(suite, NO_TIMEOUT)
    md = (out / "conformance.md").read_text(encoding="utf-8")
    title = md.splitlines()[0]
    assert title.startswith("## ❌ Autograd conformance: nograph ") and title.endswith(" on cpu")
    assert "| claims (per device) |" in md and "| tests |" in md
    failing_part, claims_part = md.split("### Failing claims (3)", 1)[1].split("<details>")
    assert "| `backward.mean-of-3-squares` | cpu | ❌ fail | 2 of 2 tests ran: 1 fail, 1 pass |" in claims_part
    for cid in ("backward.mean-of-3-squares", "backward.vjp-linear-in-seed",
                "backward.matmul-vector-shape"):
        assert f"`{cid}`" in failing_part
        assert markdown._md(CLAIMS[cid].statement[:60]) in failing_part  # Markdown-escaped
        assert markdown._md(CLAIMS[cid].source[0]) in failing_part
    for cid in ("backward.sum-is-zero-dim", "graph.leaf-has-no-node", "backward.chain-rule-40"):
        assert cid not in failing_part
    assert "AssertionError: deliberately broken: expected 3" in failing_part
    assert f"Rerun: `PYTHONPATH={suite.path} pytest -p autograd_conformance.plugin --backend " \
           "fakebackend:NoGraphBackend --device cpu --no-report 'test_fake.py::test_fails[cpu]'`" in failing_part

    page = (out / "conformance.html").read_text(encoding="utf-8")
    assert "<script" not in page  # self-contained: nothing loaded from elsewhere (a URL in text is no load)
    assert not re.search(r"(src|href)=['\"]?https?:|url\(['\"]?https?:|@import", page)
    assert "id='claim-backward.mean-of-3-squares'" in page
    assert "<details id='fail-backward.mean-of-3-squares-0'>" in page


def test_markdown_stays_under_the_comment_limit(suite):
    _, out = run(suite, "-k", "fails")
    data = load(out)
    data["claims"] = data["claims"] * 3000
    data["claims"][0] = dict(data["claims"][0], summary="x" * 100_000)
    md = markdown.run_markdown(data)
    assert len(md) < 65_000
    assert "more failures not shown" in md


def test_no_report_and_non_conformance_runs(suite):
    _, out = run(suite, "-k", "passes", "--no-report")
    assert not out.exists()
    suite.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = suite.runpytest("-p", "autograd_conformance.plugin", "-p", "no:cacheprovider", "-p", "no:randomly", "test_plain.py")
    assert result.ret == 0 and not (suite.path / "reports").exists()


def test_ctrl_c_during_collection_still_writes_reports(suite):
    """Ctrl-C while files are being collected: nothing ran, and the report says so."""
    suite.makepyfile(test_a="""
        import pytest

        @pytest.mark.claim("backward.sum-is-zero-dim")
        def test_collected(B, device):
            pass
    """, test_b="def test_other():\n    pass\n", conftest="""
        def pytest_collectreport(report):
            if report.nodeid == "test_a.py":
                raise KeyboardInterrupt  # Ctrl-C after the first file's items were collected
    """)
    result, out = run(suite, "test_a.py", "test_b.py", backend="torch", no_reraise_ctrlc=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    data = load(out)
    assert data["complete"] is False and "interrupted" in data["incomplete_reason"]
    assert data["finished"] == 0 and data["claims"] == []


def test_interrupted_run_is_incomplete(suite):
    suite.makepyfile(test_interrupt="""
        import pytest

        @pytest.mark.claim("backward.sum-is-zero-dim")
        def test_first(B, device):
            pass

        @pytest.mark.claim("backward.mean-of-3-squares")
        def test_ctrl_c(B, device):
            raise KeyboardInterrupt

        @pytest.mark.claim("backward.chain-rule-40")
        def test_never_runs(B, device):
            pass
    """)
    result, out = run(suite, "test_interrupt.py", backend="torch", no_reraise_ctrlc=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    data = load(out)
    assert data["complete"] is False and "interrupted" in data["incomplete_reason"]
    assert "only 1 of 3" in data["incomplete_reason"]
    assert outcomes(data) == {"backward.sum-is-zero-dim": "pass"}
    assert "Incomplete run" in (out / "conformance.md").read_text(encoding="utf-8")


def _two_runs(suite) -> tuple[Path, Path]:
    _, torch_dir = run(suite, NO_TIMEOUT, backend="torch", report_dir="run-torch")
    _, nograph_dir = run(suite, NO_TIMEOUT, report_dir="run-nograph")
    return torch_dir / "conformance.json", nograph_dir / "conformance.json"


def test_merge(suite):
    a, b = _two_runs(suite)
    readme = suite.path / "README.md"
    readme.write_text("# Project\n\n<!-- conformance-matrix:start -->\nold table\n"
                      "<!-- conformance-matrix:end -->\n\nMore text.\n", encoding="utf-8")
    out = suite.path / "merged"
    assert report_cli.main(["merge", str(a), str(b), str(a), "--out", str(out),
                        "--readme", str(readme)]) == 0
    matrix = json.loads((out / "conformance-matrix.json").read_text(encoding="utf-8"))
    jsonschema.validate(matrix, SCHEMA)
    ids = [c["id"] for c in matrix["columns"]]
    torch_col, nograph_col = ids[0], ids[1]
    assert torch_col.startswith("torch ") and nograph_col.startswith("nograph ")
    assert ids[2] == torch_col + " #2"
    leaf = next(c for c in matrix["claims"] if c["id"] == "graph.leaf-has-no-node")
    assert {k: r["outcome"] for k, r in leaf["results"].items()} == {
        torch_col: "pass", nograph_col: "not applicable", ids[2]: "pass"}
    assert [c["id"] for c in matrix["claims"]] == [
        cid for cid in CLAIMS if cid in EXPECTED and cid != "backward.vjp-seed-vector"]

    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# Project\n\n<!-- conformance-matrix:start -->\n")
    assert text.endswith("<!-- conformance-matrix:end -->\n\nMore text.\n")
    assert "old table" not in text
    row = next(line for line in text.splitlines() if "`graph.leaf-has-no-node`" in line)
    assert row.split("|")[2:5] == [" ✅ ", " ➖ ", " ✅ "]
    assert "nograph " in text and "<br>cpu" in text
    assert (out / "conformance-matrix.md").read_text(encoding="utf-8").startswith(
        "### Conformance matrix")

    plain = suite.path / "PLAIN.md"
    plain.write_text("no markers\n", encoding="utf-8")
    cli = subprocess.run([sys.executable, "-m", "autograd_conformance.report", "merge", str(a),
                          str(b), "--out", str(suite.path / "cli"), "--readme", str(plain)],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert "no <!-- conformance-matrix:start -->" in cli.stderr
    assert plain.read_text(encoding="utf-8") == "no markers\n"
    assert (suite.path / "cli" / "conformance-matrix.html").stat().st_size > 1000


@pytest.mark.slow  # starts Chromium
@pytest.mark.skipif(not CHROMIUM.exists(), reason="rendering the HTML report needs headless "
                    "Chromium at /usr/bin/chromium (Debian: apt-get install chromium)")
def test_html_renders_in_chromium(suite, tmp_path):
    a, b = _two_runs(suite)
    out = suite.path / "merged"
    assert report_cli.main(["merge", str(a), str(b), "--out", str(out)]) == 0
    png = tmp_path / "matrix.png"
    subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
                    "--window-size=1400,900", (out / "conformance-matrix.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert png.stat().st_size > 20_000
    image_module = pytest.importorskip("PIL.Image", reason="Pillow (a torchvision dependency)")
    with image_module.open(png) as image:
        assert image.size == (1400, 900)
        pixels = {rgb for _, rgb in image.convert("RGB").getcolors(1400 * 900)}
    assert len(pixels) > 200, "the page looks blank"
    # the colour-coded cells: pass (#dafbe1), fail (#ffcecb), not applicable (#f6f8fa)
    assert {(218, 251, 225), (255, 206, 203), (246, 248, 250)} <= pixels
