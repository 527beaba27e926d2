"""The README's promises: two set-up commands, CI runs the test one, the script example works, the
exit statuses are the ones it documents."""

import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oisa.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def shell_blocks():
    return re.findall(r"```sh\n(.*?)```", README, re.S)


def test_the_readme_gives_two_set_up_commands_and_ci_runs_the_test_one():
    commands = [block.strip() for block in shell_blocks() if block.strip().startswith("python3 -m venv")]
    assert len(commands) == 2
    install_and_run, install_and_test = commands
    assert "oisa compare supernode-64 switched-64" in install_and_run and "pytest" in install_and_test
    ci = (ROOT / ".ci" / "run").read_text()
    assert install_and_test in ci


def test_the_python_example_runs(capsys):
    [example] = re.findall(r"```python\n(.*?)```", README, re.S)
    exec(compile(example, "README.md", "exec"), {})
    assert "verified=True" in capsys.readouterr().out


def exit_status_table() -> dict[int, list[str]]:
    """The README's exit statuses: each status and the example commands its row gives."""
    rows = re.findall(r"^\| (\d+) \|[^|]+\|([^|]*)\|$", README, re.MULTILINE)
    return {int(status): re.findall(r"`(oisa [^`]+)`", examples) for status, examples in rows}


def test_the_readme_documents_the_exit_statuses():
    statuses = exit_status_table()
    assert sorted(statuses) == [0, 1, 2, 130]
    assert all(statuses[status] for status in (0, 1, 2))
    assert "`oisa: interrupted`" in README


@pytest.mark.parametrize(("status", "command"), [(status, command) for status, commands in exit_status_table().items()
                                                 for command in commands])
def test_each_exit_status_example_ends_with_its_status(capsys, status, command):
    """Each example in the README's table, run as written: its status, and a failure is told in
    one ``oisa: error:`` line or in the output (decode's JSON), never a traceback."""
    assert main(shlex.split(command)[1:]) == status
    out, err = capsys.readouterr()
    if status == 2:
        assert out == "" and err.startswith("oisa: error: ") and err.count("\n") == 1, err
    elif status == 1:
        assert (err.startswith("oisa: error: ") and err.count("\n") == 1) or (err == "" and "error" in out), err
    else:
        assert err == ""


def test_ctrl_c_ends_a_run_with_the_status_the_readme_gives():
    """130 (``tests/test_interrupt.py`` interrupts at many moments; this holds the README to it)."""
    process = subprocess.Popen([sys.executable, "-m", "oisa", "run", "supernode-64", "-w", "allreduce", "--size",
                                "64MiB", "--no-data"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    finally:
        process.kill()
        process.communicate()
    assert 130 in exit_status_table() and (process.returncode, err) == (130, "oisa: interrupted\n")
