"""The sentinel: a small process beside a conformance run that rebuilds the run's reports if the
run's process dies outright (a segfault or ``os._exit`` in an engine's native code, the watchdog
ending a hang in native code, SIGKILL, the OOM killer), when nothing in the process can write them.

The run starts it when it opens its journal (journal.py) and holds the write end of a pipe that is
the sentinel's stdin. A run that reaches its end says ``done`` on the pipe before closing it,
whether or not its reports could be written; the kernel closes the pipe when the run's process
ends, however it ends. Closed without ``done``, the run died: the sentinel rebuilds the reports
from the run's own journal (write.rebuild) and says so on stderr.

    python -m autograd_conformance.report.sentinel JOURNAL [WATCHDOG_FILE]
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DONE = b"done"


def start(journal_path: Path, watchdog_file: Path | None) -> subprocess.Popen | None:
    args = [sys.executable, "-m", "autograd_conformance.report.sentinel", str(journal_path)]
    if watchdog_file is not None:
        args.append(str(watchdog_file))
    try:
        return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                start_new_session=True)  # a Ctrl-C for the run is not for it
    except OSError:
        return None  # no sentinel: a dead run's journal can still be rebuilt by hand


def stop(process: subprocess.Popen | None) -> None:
    """The run reached its end: let the sentinel go without rebuilding anything."""
    if process is not None and process.poll() is None:
        try:
            process.stdin.write(DONE)
            process.stdin.close()
        except OSError:
            pass
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def main(argv: list[str]) -> int:
    journal_path = Path(argv[0])
    watchdog_file = Path(argv[1]) if len(argv) > 1 else None
    received = b""
    while chunk := sys.stdin.buffer.read(65536):  # until the run's end of the pipe is closed
        received = (received + chunk)[-len(DONE):]
    if received == DONE or not journal_path.exists():
        return 0  # the run reached its end
    from autograd_conformance.report.write import rebuild
    try:
        run, reason, directory = rebuild(journal_path, watchdog_file)
    except (OSError, ValueError) as exc:
        print(f"autograd-conformance: the run died and its reports could not be rebuilt from "
              f"{journal_path}: {exc}", file=sys.stderr)
        return 1
    print(f"\nautograd-conformance: the pytest process died; {reason}. Reports rebuilt from the "
          f"journal in {directory}{os.sep} ({run['finished']} finished test(s), marked incomplete).",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
