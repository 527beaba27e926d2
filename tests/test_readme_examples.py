"""Every ``oisa`` command in the README's ``sh`` blocks runs, so the examples cannot break again
(issue 15, item 19).

Each command runs as written, in a scratch directory (paths the README gives relative to the
checkout, such as ``validation/...``, are read from the checkout; files it writes land in the
scratch directory; ``HOME`` is the scratch directory, so ``--install`` installs there). A run
that takes minutes runs smaller (with the README's own sizes where it gives them); the few that
cannot run here are skipped with their reason. Both tables must name commands the README still has, so
they cannot outlive the examples they stand for.
"""

import re
import shlex
from pathlib import Path

import pytest

from oisa.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def readme_commands() -> list[str]:
    """Each ``oisa`` command of the README's ``sh`` blocks, continuation lines joined, comments and
    ``;``-separated neighbours apart, in order, once each."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.DOTALL):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            for part in line.split("#")[0].split(";"):
                command = " ".join(part.split())
                if command.startswith("oisa ") and command not in commands:
                    commands.append(command)
    return commands


# As the README writes it -> what runs instead, with the README's own smaller sizes, and why.
SMALLER = {
    "oisa scenario article":
        ("oisa scenario article --max-cards 8 --no-sensitivity",
         "many minutes at 64 cards; tests/workload/test_scenario.py runs the sensitivity on fewer cards"),
    "oisa scenario failures":
        ("oisa scenario failures --fabrics cluster-1k-switched --horizon 1d --replicas 2",
         "loading the two 100k-card fabrics alone takes a minute; tests/workload/test_failures.py covers the rest"),
    "oisa validate validation/mi300x-8/all_reduce_perf_hisohara-aac8.txt --fabric validation/mi300x-8/mi300x-8.toml":
        ("oisa validate validation/mi300x-8/all_reduce_perf_rccl-issue-1562.txt "
         "--fabric validation/mi300x-8/mi300x-8.toml",
         "two minutes up to 8 GiB, and tests/test_validation.py already holds that table to its bound; the same "
         "command runs here on validation/'s shorter table of the same machine"),
    "oisa sweep supernode-64 switched-64 -c allreduce -b 8 -e 256MiB --csv ar.csv --plot ar.png":
        ("oisa sweep supernode-64 switched-64 -c allreduce -b 8 -e 4KiB -f 16 --csv ar.csv --plot ar.png",
         "up to 256 MiB takes minutes"),
}

# As the README writes it -> why it is not run here.
SKIPPED = {
    "oisa fuzz --replay oisa-fuzz-failure.json":
        "replays the file a failing fuzz run saves, and none fails here; tests/testing/test_fuzz.py saves one from a "
        "planted bug and replays it (status 1, then 0 once fixed)",
    "oisa study studies/lanes.toml -o lanes.study --scheduler tcp://HOST:8786":
        "needs a Dask scheduler on another machine; tests/study/test_study_runs.py runs studies on a LocalCluster's "
        "scheduler and kills one of its workers",
}

# As the README writes it -> the status it ends with, where that is not 0 (the README says so beside it).
REFUSED = {
    "oisa run cluster-10k-switched --engine timing": (2, "the timing engine takes at most 1,024 cards"),
    "oisa run supernode-64 -w allreduce --cards 0,1,4,5,8 --size 64KiB --outages docs/outages-dead-card.toml":
        (1, "rank 2 (card 4) failed, detected 50.007 ms into the collective"),
}


def test_the_tables_name_commands_the_readme_has():
    commands = readme_commands()
    assert len(commands) > 30
    assert not (set(SMALLER) | set(SKIPPED) | set(REFUSED)) - set(commands)


@pytest.mark.parametrize("command", readme_commands())
def test_the_readme_command_runs(capsys, monkeypatch, tmp_path, command):
    if command in SKIPPED:
        pytest.skip(SKIPPED[command])
    ran = SMALLER.get(command, (command, ""))[0]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    yours = tmp_path / "path" / "to" / "my-fabric.toml"  # "your own fabric file": one of the catalog's, copied
    yours.parent.mkdir(parents=True)
    yours.write_text((ROOT / "fabrics" / "pair.toml").read_text())
    argv = [str(ROOT / arg) if "/" in arg and not (tmp_path / arg).exists() and (ROOT / arg).exists() else arg
            for arg in shlex.split(ran)[1:]]
    status = main(argv)
    out, err = capsys.readouterr()
    expected, fragment = REFUSED.get(command, (0, ""))
    assert status == expected, err
    if expected:
        assert err.startswith("oisa: error: ") and err.count("\n") == 1 and fragment in err, err
    else:
        assert err == "" and out
