"""The conformance run's command line: its options, what each accepts (bad values are usage errors
that say what to give instead, before anything runs), rootdir chosen again once the options are
known, and what is set from them before the engine is imported (threads) or read at configure
(the devices). The report and benchmark options are declared where their concern lives
(report/collect.py, benchmarks/hooks.py), as pytest plugins do; the Hypothesis profiles are
profiles.py's, the expectation file's choice expectations.py's, SIGTERM containment.py's."""

from __future__ import annotations

import copy
import math
import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from autograd_conformance import fashionmnist
from autograd_conformance.registry import BUILTIN

DEFAULT_TIMEOUT = 120.0  # seconds per conformance test unless timeout() finds another value

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograd-conformance", "autograd conformance suite")
    group.addoption(
        "--backend", default="torch", metavar="NAME",
        help=f"autograd engine to test: a built-in name ({', '.join(BUILTIN)}), a "
             "name installed under the entry point group 'autograd_conformance.backends', or "
             "'package.module:attribute'. "
             "Default: torch.")
    group.addoption(
        "--device", default="cpu", metavar="LIST",
        help="comma-separated devices to run every conformance test on (e.g. cpu,cuda), or "
             "'all' for every device the backend has on this machine. Default: cpu.")
    group.addoption(
        "--fashionmnist-root", default=None, metavar="DIR",
        help="directory holding the real FashionMNIST (DIR/FashionMNIST/raw/*-ubyte). "
             "Default: a small dataset in the same file format, generated for the run.")
    group.addoption(
        "--expectations", default=None, metavar="FILE",
        help="TOML file of the backend's known deviations ([[expected_failure]] and "
             "[[nondeterministic]] entries with claim, reason, optional test/device/link; see "
             "docs/expectations.md). Default: the file a built-in backend ships "
             "(autograd_conformance/backends/NAME_expectations.toml), if any; 'none' uses no file.")
    group.addoption(
        "--threads", type=int, default=1, metavar="N",
        help="intra-op threads per test process for the engine (OMP_NUM_THREADS, MKL_NUM_THREADS, "
             "torch.set_num_threads); 0 keeps the engine's default. Default: 1 (or OMP_NUM_THREADS "
             "where the environment sets it), because idle "
             "threads of a parallel engine spin and slow a run on a busy or small machine. "
             "Benchmark runs (--benchmarks) keep the engine's default unless this is given.")
    group.addoption(
        "--conformance-timeout", type=float, default=None, metavar="SECONDS",
        help=f"end a conformance test that runs longer than this (its outcome is 'timeout'; 0: no "
             f"timeout). Default: pytest-timeout's --timeout where that plugin is installed and given "
             f"one, else the conformance_timeout ini value, else {DEFAULT_TIMEOUT:g}.")
    parser.addini("conformance_timeout", f"per-test timeout in seconds (default {DEFAULT_TIMEOUT:g})")


@pytest.hookimpl(tryfirst=True)  # before pytest's own implementation loads conftests from rootdir
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser,
                                  args: list[str]) -> None:
    """Choose rootdir and ini file again, now that this plugin's options are known.

    pytest chooses them (``Config.parse`` -> ``determine_setup``) before plugins add their options,
    so the value of ``--expectations FILE``, ``--report-dir DIR`` or ``--fashionmnist-root DIR``
    (also any other plugin's) is taken for a test path then: an existing path outside the checkout
    moves rootdir there, and pyproject.toml's testpaths and addopts are lost. Here
    ``known_args_namespace.file_or_dir`` holds the real test paths; when they lead to another
    rootdir or ini file, switch to it as ``parse`` would have. (``--opt=VALUE`` never misleads
    pytest: a word starting with '-' is not a path.) Not redone for the new ini file: its
    ``-p`` plugins, ``pythonpath``, ``minversion`` and ``required_plugins``.
    """
    from _pytest.config.findpaths import determine_setup, parse_override_ini
    ns = early_config.known_args_namespace
    rootpath, inipath, inicfg, _ = determine_setup(
        inifile=ns.inifilename, override_ini=ns.override_ini, args=ns.file_or_dir,
        rootdir_cmd_arg=ns.rootdir or None, invocation_dir=early_config.invocation_params.dir)
    if (rootpath, inipath) == (early_config.rootpath, early_config.inipath):
        return  # the usual case: nothing was mistaken for a path
    old_addopts = list(early_config.getini("addopts"))
    if old_addopts and args[:len(old_addopts)] == old_addopts:
        del args[:len(old_addopts)]  # the wrong ini file's addopts, prepended by parse
    early_config._rootpath, early_config._inipath, early_config._inicfg = rootpath, inipath, inicfg
    early_config._inicache.clear()
    parser.extra_info.update(rootdir=str(rootpath), inifile=str(inipath))
    args[:] = list(early_config.getini("addopts")) + args  # the same list parse() goes on with
    ns = early_config.known_args_namespace = parser.parse_known_args(
        args, namespace=copy.copy(early_config.option))
    early_config._inicfg.update(parse_override_ini(ns.override_ini))  # -o in addopts, as parse does
    early_config._inicache.clear()
    if ns.confcutdir is None:  # chosen by parse from the wrong rootdir: choose it again
        ns.confcutdir = str(inipath.parent if inipath is not None else rootpath)


def check_options(config: pytest.Config) -> None:
    """Bad option values are usage errors that say what to give instead, before anything runs."""
    profile = config.getoption("hypothesis_profile", None)
    if profile is not None and profile not in settings._profiles:
        raise pytest.UsageError(f"--hypothesis-profile {profile}: no such Hypothesis profile. The suite's "
                                f"profiles: conformance (the default), thorough; registered: {', '.join(sorted(settings._profiles))}")
    timeout(config)  # a bad value is a usage error before anything runs
    root = config.getoption("fashionmnist_root")
    if root is not None:
        problem = fashionmnist.check_root(Path(root).expanduser())
        if problem:
            raise pytest.UsageError(f"--fashionmnist-root {root}: {problem}. Point it at the directory that "
                                    "holds FashionMNIST/raw/ (train- and t10k- images and labels), or leave "
                                    "it out to use the suite's small dataset in the same format.")


def timeout(config: pytest.Config) -> float:
    """Seconds a conformance test may run (0: no limit). The suite keeps its own timer
    (containment.py), so that installing it adds no plugin to other projects' runs. In order:
    --conformance-timeout; pytest-timeout's --timeout, where that plugin is loaded (an environment
    may have it) and the command line gives one; the conformance_timeout ini value; 120 s."""
    given = config.getoption("conformance_timeout", None)
    if given is not None:
        return _seconds(given, f"--conformance-timeout {given}")
    if config.pluginmanager.has_plugin("timeout"):  # pytest-timeout's option, not a project's own
        given = config.getoption("timeout", None)
        if given is not None:
            return _seconds(given, f"--timeout {given}")
    value = config.getini("conformance_timeout")
    if value:
        return _seconds(value, f"conformance_timeout = {value}", ", or leave it out for "
                        f"{DEFAULT_TIMEOUT:g}")
    return DEFAULT_TIMEOUT


def _seconds(value, where: str, alternative: str = "") -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        raise pytest.UsageError(f"{where}: give a number of seconds >= 0 (0 switches the per-test "
                                f"timeout off){alternative}")
    return seconds


def limit_threads(config: pytest.Config) -> None:
    """--threads: set before the engine is imported (and inherited by xdist workers). Without the
    option, an OMP_NUM_THREADS already in the environment is the user's choice and stays."""
    threads = config.getoption("threads")
    if threads < 0:
        raise pytest.UsageError(f"--threads {threads}: give a number of threads >= 1, or 0 for the "
                                "engine's default")
    given = any(a == "--threads" or a.startswith("--threads=") for a in config.invocation_params.args)
    if threads == 0 or (not given and (config.getoption("benchmarks", False) or "OMP_NUM_THREADS" in os.environ)):
        return
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)
    if "torch" in sys.modules:  # imported before us: the variables came too late for it
        sys.modules["torch"].set_num_threads(threads)


def parse_devices(spec: str, backend) -> list[str]:
    available = list(backend.available_devices())
    if spec.strip() == "all":
        return available
    wanted = [d.strip() for d in spec.split(",") if d.strip()]
    if not wanted:
        raise pytest.UsageError("--device is empty: give devices such as 'cpu' or 'cpu,cuda', or 'all'")
    missing = [d for d in wanted if d not in available]
    if missing:
        raise pytest.UsageError(
            f"--device {spec}: {', '.join(repr(d) for d in missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not available for backend {backend.name!r} "
            f"on this machine. Available here: {', '.join(available)}. "
            "Pass one of those, or --device all.")
    return list(dict.fromkeys(wanted))
