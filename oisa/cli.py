"""The ``oisa`` command.

Every failure the user can cause (a missing or malformed file, an unknown name, a bad size)
ends in one line on standard error, ``oisa: error: ...``, and a non-zero exit status: 2 for
command-line mistakes, 1 for everything else. Tracebacks are for bugs in oisa only.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from oisa.errors import OisaError
from oisa.fabric import load_fabric
from oisa.report import p2p_json, p2p_text
from oisa.units import parse_size
from oisa.workload import run_p2p

__all__ = ["main"]

DEFAULT_FABRIC = "pair"
WORKLOADS = ("p2p",)


class Size(click.ParamType):
    """A byte count with an optional unit: 4096, 64KiB, 1MiB, 1GB."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(value, what=param.opts[0] if param else "size")
        except OisaError as exc:
            self.fail(str(exc).split(": ", 1)[-1], param, ctx)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="oisa", message="%(prog)s %(version)s")
def cli() -> None:
    """Emulate an OISA-like GPU interconnect in virtual time.

    FABRIC arguments take a built-in catalog name (pair, ...) or the path of a TOML file.
    """


@cli.command()
@click.argument("fabric", default=DEFAULT_FABRIC, metavar="[FABRIC]")
@click.option("--workload", "-w", type=click.Choice(WORKLOADS), default="p2p", show_default=True,
              help="What to run. p2p: card SRC writes a random buffer into card DST, reads it back and "
                   "compares.")
@click.option("--size", "-s", type=Size(), default="1MiB", show_default=True,
              help="Bytes to move, with an optional unit (4096, 64KiB, 1MiB, 1GB).")
@click.option("--src", type=int, default=0, show_default=True, help="Card that starts the transfer.")
@click.option("--dst", type=int, default=1, show_default=True, help="Card at the other end.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for every random choice of the run; the same seed gives the same output.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (keys: specs/cli-json.md).")
def run(fabric: str, workload: str, size: int, src: int, dst: int, seed: int, as_json: bool) -> None:
    """Run a workload on FABRIC (default: pair) and report what happened."""
    spec = load_fabric(fabric)
    result = run_p2p(spec, src=src, dst=dst, size=size, seed=seed)
    click.echo(json.dumps(p2p_json(result)) if as_json else p2p_text(result))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``oisa`` script; returns the exit status."""
    try:
        cli.main(args=argv, prog_name="oisa", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("oisa: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"oisa: error: {_one_line(exc.format_message())}", err=True)
        return exc.exit_code
    except OisaError as exc:
        click.echo(f"oisa: error: {_one_line(str(exc))}", err=True)
        return 1
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
