"""The bad-input battery: every bad input issue 22 named (and a few more), each run as a user would
in a fresh temporary directory, classified by its exit code and output as a usage error (exit 4),
an error message (the report tools), a traceback or INTERNALERROR, or SILENT (accepted without a
word). Two valid inputs that look odd are in it too, to show they work. Not collected by pytest
(the project's tests check each case on its own); run it to see the whole table:

    python tests/bad_input_battery.py battery.json
"""
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

PY = sys.executable
SAMPLE = textwrap.dedent('''
    import pytest
    @pytest.mark.claim("backward.chain-rule-40")
    def test_chain(B, device):
        _, (dw,) = B.vjp(lambda w: 10 * w ** 2 + 25, [B.tensor(2.0, device=device)])
''')
FILES = {
    "test_sample.py": SAMPLE,
    "exiting.py": "import sys\nsys.exit('no engine here')\n",
    "raising.py": "raise ImportError('libengine.so: cannot open shared object file')\n",
    "nonecap.py": textwrap.dedent('''
        from autograd_conformance.backends.torch_backend import TorchBackend
        class Adapter(TorchBackend):
            grad_fn = None
        '''),
    "noname.py": "class Adapter:\n    version = '1'\n",
    "lib/hidden.py": "from autograd_conformance.backends.torch_backend import TorchBackend as Adapter\n",
    "afile": "x",
    "nonutf8.toml": b"# caf\xe9\n",
    "invalid.toml": "[[expected_failure]\n",
    "unknown_table.toml": '[[expected_failures]]\nclaim = "backward.chain-rule-40"\nreason = "x"\n',
    "unknown_key.toml": '[[expected_failure]]\nclaim = "backward.chain-rule-40"\nreason = "x"\nwhy = "y"\n',
    "no_reason.toml": '[[expected_failure]]\nclaim = "backward.chain-rule-40"\n',
    "unknown_claim.toml": '[[expected_failure]]\nclaim = "backward.chain-rule-4"\nreason = "x"\n',
    "misspelt_file.toml": '[[expected_failure]]\nclaim = "backward.chain-rule-40"\nreason = "x"\ntest = "test_sampel.py::test_chain"\n',
    "misspelt_test.toml": '[[expected_failure]]\nclaim = "backward.chain-rule-40"\nreason = "x"\ntest = "test_sample.py::test_chian"\n',
    "duplicate.toml": '[[expected_failure]]\nclaim = "backward.chain-rule-40"\nreason = "x"\n' * 2,
    "both_kinds.toml": '[[expected_failure]]\nclaim = "backward.chain-rule-40"\nreason = "x"\n[[nondeterministic]]\nclaim = "backward.chain-rule-40"\nreason = "x"\n',
    "unknown_device.toml": '[[expected_failure]]\nclaim = "backward.chain-rule-40"\nreason = "x"\ndevice = "cpu0"\n',
    "node_id_form.toml": '[[expected_failure]]\nclaim = "backward.chain-rule-40"\nreason = "x"\ntest = "suites/test_sample.py::test_chain"\n',
}
P = ["-p", "autograd_conformance.plugin", "-p", "no:cacheprovider", "-p", "no:randomly", "test_sample.py"]
CASES = [  # (name, argv, extra environment, a folder to block the report dir with, valid input?)
    ("unknown backend", [*P, "--backend", "nosuch"], {}, None, False),
    ("backend module missing", [*P, "--backend", "nosuch.mod:Cls"], {}, None, False),
    ("backend attribute missing", [*P, "--backend", "autograd_conformance.backends.torch_backend:Nope"], {}, None, False),
    ("adapter calls sys.exit on import", [*P, "--backend", "exiting:Adapter"], {"PYTHONPATH": "."}, None, False),
    ("adapter import raises ImportError", [*P, "--backend", "raising:Adapter"], {"PYTHONPATH": "."}, None, False),
    ("adapter importable only with PYTHONPATH", [*P, "--backend", "hidden:Adapter"], {}, None, False),
    ("capability method set to None", [*P, "--backend", "nonecap:Adapter"], {"PYTHONPATH": "."}, None, False),
    ("adapter without name", [*P, "--backend", "noname:Adapter"], {"PYTHONPATH": "."}, None, False),
    ("absent device cuda", [*P, "--device", "cuda"], {}, None, False),
    ("unknown device", [*P, "--device", "nosuch"], {}, None, False),
    ("empty device", [*P, "--device", ""], {}, None, False),
    ("--conformance-timeout -1", [*P, "--conformance-timeout", "-1"], {}, None, False),
    ("--conformance-timeout inf", [*P, "--conformance-timeout", "inf"], {}, None, False),
    ("--conformance-timeout nan", [*P, "--conformance-timeout", "nan"], {}, None, False),
    ("--conformance-timeout abc", [*P, "--conformance-timeout", "abc"], {}, None, False),
    ("--timeout inf (pytest-timeout)", [*P, "--timeout", "inf"], {}, None, False),
    ("--timeout nan (pytest-timeout)", [*P, "--timeout", "nan"], {}, None, False),
    ("conformance_timeout = abc", [*P, "-o", "conformance_timeout=abc"], {}, None, False),
    ("conformance_timeout = inf", [*P, "-o", "conformance_timeout=inf"], {}, None, False),
    ("--report-dir ''", [*P, "--report-dir="], {}, None, False),
    ("--report-dir is a file", [*P, "--report-dir", "afile"], {}, None, False),
    ("--report-dir holds a folder named conformance.json", [*P, "--report-dir", "blocked"], {}, "blocked", False),
    ("--report-dir=~/x (valid: the home directory)", [*P, "--report-dir=~/x"], {"HOME": "home"}, None, True),
    ("--expectations missing file", [*P, "--expectations", "missing.toml"], {}, None, False),
    ("--expectations a directory", [*P, "--expectations", "."], {}, None, False),
    ("--expectations not UTF-8", [*P, "--expectations", "nonutf8.toml"], {}, None, False),
    ("--expectations invalid TOML", [*P, "--expectations", "invalid.toml"], {}, None, False),
    ("expectations: unknown table", [*P, "--expectations", "unknown_table.toml"], {}, None, False),
    ("expectations: unknown key", [*P, "--expectations", "unknown_key.toml"], {}, None, False),
    ("expectations: no reason", [*P, "--expectations", "no_reason.toml"], {}, None, False),
    ("expectations: unknown claim", [*P, "--expectations", "unknown_claim.toml"], {}, None, False),
    ("expectations: misspelt file name", [*P, "--expectations", "misspelt_file.toml"], {}, None, False),
    ("expectations: misspelt test name", [*P, "--expectations", "misspelt_test.toml"], {}, None, False),
    ("expectations: duplicate entry", [*P, "--expectations", "duplicate.toml"], {}, None, False),
    ("expectations: entry as both kinds", [*P, "--expectations", "both_kinds.toml"], {}, None, False),
    ("expectations: unknown device", [*P, "--expectations", "unknown_device.toml"], {}, None, False),
    ("expectations: pytest's suites/... node id (valid: read without folders)", [*P, "--expectations", "node_id_form.toml"], {}, None, True),
    ("--hypothesis-profile nosuch", [*P, "--hypothesis-profile", "nosuch"], {}, None, False),
    ("--fashionmnist-root missing", [*P, "--fashionmnist-root", "nosuch"], {}, None, False),
    ("--threads -2", [*P, "--threads", "-2"], {}, None, False),
    ("--threads abc", [*P, "--threads", "abc"], {}, None, False),
    ("--benchmarks without pytest-benchmark", [*P, "--benchmarks", "-p", "no:benchmark"], {}, None, False),
]
TOOLS = [
    ("report rebuild: no such directory", [PY, "-m", "autograd_conformance.report", "rebuild", "nosuch"]),
    ("report merge: not JSON", [PY, "-m", "autograd_conformance.report", "merge", "afile", "--out", "m"]),
]


def classify_tool(code, out):
    if "Traceback" in out:
        return "traceback"
    return "error message" if code != 0 and out.strip() else f"SILENT (exit {code})"


def classify(code, out, valid):
    if "Traceback" in out or "INTERNALERROR" in out:
        return "traceback"
    if valid:
        return "ok (valid input)" if code in (0, 1) else f"exit {code}"
    return "usage error" if code == 4 else f"SILENT (exit {code})"


def run_case(name, argv, env, setup, valid):
    with tempfile.TemporaryDirectory(prefix="battery-") as folder:
        d = Path(folder)
        (d / "lib").mkdir()
        (d / "home").mkdir()
        for f, c in FILES.items():
            if isinstance(c, bytes):
                (d / f).write_bytes(c)
            else:
                (d / f).write_text(c)
        if setup:
            (d / setup / "conformance.json").mkdir(parents=True)
        e = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        e.update({"OMP_NUM_THREADS": "1", **{k: (str(d / v) if k == "HOME" else v) for k, v in env.items()}})
        r = subprocess.run([PY, "-m", "pytest", *argv], cwd=d, env=e, capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    msg = next((line for line in out.splitlines() if line.startswith("ERROR:") or "error:" in line), "")
    return name, r.returncode, classify(r.returncode, out, valid), msg.strip()[:160]


def run_tool(name, argv):
    with tempfile.TemporaryDirectory(prefix="battery-") as folder:
        (Path(folder) / "afile").write_text("x")
        r = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=120)
    out = (r.stdout + r.stderr).strip()
    return name, r.returncode, classify_tool(r.returncode, out), out.splitlines()[-1][:160] if out else ""


def main(out: str) -> None:
    rows = [run_case(*case) for case in CASES] + [run_tool(*tool) for tool in TOOLS]
    Path(out).write_text(json.dumps(rows, indent=1))
    for name, code, verdict, message in rows:
        print(f"{verdict:22} exit {code:<3} {name}  | {message}")


if __name__ == "__main__":
    main(sys.argv[1])
