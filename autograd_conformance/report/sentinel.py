"""The sentinel: a small process beside a conformance run that rebuilds the run's reports if the
run's process dies outright (a segfault or ``os._exit`` in an engine's native code, the watchdog
ending a hang in native code, SIGKILL, the OOM killer), when nothing in the process can write them.

The run starts it when it records its first test phase and holds the write end of a pipe that is
the sentinel's stdin. The kernel closes that pipe when the run's process ends, however it ends; the
sentinel then finds the journal (journal.py) still there only if the run did not write its reports,
and rebuilds them from it (write.rebuild), saying so on stderr. A run that ends normally removes
its journal first, and the sentinel exits without doing anything.

    python -m autograd_conformance.report.sentinel REPORT_DIR [WATCHDOG_FILE]
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def start(directory: Path, watchdog_file: Path | None) -> subprocess.Popen | None:
    args = [sys.executable, "-m", "autograd_conformance.report.sentinel", str(directory)]
    if watchdog_file is not None:
        args.append(str(watchdog_file))
    try:
        return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                start_new_session=True)  # a Ctrl-C for the run is not for it
    except OSError:
        return None  # no sentinel: a dead run's journal can still be rebuilt by hand


def stop(process: subprocess.Popen | None) -> None:
    """The run ended normally (its reports are written): let the sentinel go."""
    if process is not None and process.poll() is None:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def main(argv: list[str]) -> int:
    directory = Path(argv[0])
    watchdog_file = Path(argv[1]) if len(argv) > 1 else None
    while sys.stdin.buffer.read(65536):  # until the run's end of the pipe is closed
        pass
    from autograd_conformance.report import journal
    if not (directory / journal.NAME).exists():
        return 0  # the run wrote its reports
    from autograd_conformance.report.write import rebuild
    try:
        run, reason = rebuild(directory, watchdog_file)
    except (OSError, ValueError) as exc:
        print(f"autograd-conformance: the run died and its reports could not be rebuilt from "
              f"{directory / journal.NAME}: {exc}", file=sys.stderr)
        return 1
    print(f"\nautograd-conformance: the pytest process died; {reason}. Reports rebuilt from the "
          f"journal in {directory}{os.sep} ({run['finished']} finished test(s), marked incomplete).",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
