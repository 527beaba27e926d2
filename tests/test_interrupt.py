"""Ctrl-C at any moment of a run ends it within a second: one line, ``oisa: interrupted``, and
status 130 (issue 15, items 3 and 5: it used to be ignored during runs of callbacks alone, to
give a TrioInternalError during a collective's teardown, and a traceback while importing)."""

import signal
import subprocess
import sys
import time

from hypothesis import given, settings
from hypothesis import strategies as st

LONG_RUNS = {
    "a timing-mode collective on 64 cards": ["run", "supernode-64", "-w", "allreduce", "--size", "256MiB", "--no-data"],
    "513 links that cannot come up": ["run", "supernode-64", "--size", "4KiB", "--ber", "1e-2"],
}


def _catches_sigint(pid: int) -> bool:
    """Whether the process has a handler for SIGINT yet (Linux: the SigCgt mask of /proc/PID/status)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        caught = next(line for line in status if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) >> (signal.SIGINT - 1) & 1)


# From 0.1 s after the interpreter catches SIGINT at all (before that the signal's default action
# ends the process; until Python has imported its own site module a KeyboardInterrupt there is
# the interpreter's fatal error, before any of oisa runs; on a loaded machine both may come well
# after 0.1 s from the start) through the imports (about 0.7 s) and well into runs that take
# several seconds here.
@settings(max_examples=8)
@given(run=st.sampled_from(sorted(LONG_RUNS)), delay=st.floats(0.1, 2.5))
def test_ctrl_c_at_any_moment_ends_the_run_in_one_line(run, delay):
    process = subprocess.Popen([sys.executable, "-m", "oisa", *LONG_RUNS[run]], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not _catches_sigint(process.pid) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(delay)
        assert process.poll() is None, f"{run} ended before it could be interrupted: {process.communicate()}"
        process.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        _, err = process.communicate(timeout=10)
        took = time.monotonic() - interrupted
    finally:
        process.kill()
        process.communicate()
    assert (process.returncode, err) == (130, "oisa: interrupted\n")
    assert took < 1.0
