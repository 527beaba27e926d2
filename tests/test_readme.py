"""The README's promises: two set-up commands, CI runs the test one, the script example works."""

import re
from pathlib import Path

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
