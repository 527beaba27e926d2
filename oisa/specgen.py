"""Generated parts of ``specs/``: tables rendered from the code, so the prose cannot drift.

A Markdown file in ``specs/`` marks each generated block::

    <!-- generated: oisa-message-header -->
    ...
    <!-- end generated -->

and the Wireshark dissector (:data:`DISSECTOR`, Lua) the same way in Lua comments
(``-- generated: wireshark-layouts`` ... ``-- end generated``).

``python -m oisa.specgen`` rewrites every block from the code; ``python -m oisa.specgen --check``
(and the test suite) fails if any block differs from what the code would write.
"""

from __future__ import annotations

import argparse
import enum
import functools
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from oisa.fabric.build import LINK_TIMER_RULES
from oisa.link import LinkConfig
from oisa.link.states import ERRORS, TRANSITIONS, LinkInput, LinkState
from oisa.observe import LINKTYPES, LUA_BLOCKS, fields_markdown
from oisa.testing.conformance import spec_tables as conformance_tables
from oisa.testing.fuzz import targets_markdown as fuzz_targets
from oisa.transaction.cxl_bridge import cxl_bridge_markdown
from oisa.transaction.pcie_bridge import pcie_bridge_markdown
from oisa.transaction.vdesc_bridge import vdesc_bridge_markdown
from oisa.wire import cxl, pcie, vdesc
from oisa.wire.bits import render_lsb_table
from oisa.wire.oisa import OPCODES, STATUS_MEANING, CollDtype, Status, flit, message
from oisa.wire.schema import render_table

__all__ = ["BLOCKS", "DISSECTOR", "check", "render_file", "update"]

DISSECTOR = Path("oisa/observe/wireshark/oisa.lua")


_Enum = TypeVar("_Enum", bound=enum.IntEnum)


def _opcode_table() -> str:
    lines = ["| opcode | name | class | payload | legal `length` | `aux` | meaning |", "|---|---|---|---|---|---|---|"]
    for info in OPCODES.values():
        lengths = info.lengths
        legal = (f"{lengths.start}-{lengths.stop - 1}" if isinstance(lengths, range)
                 else ", ".join(str(n) for n in lengths))
        lines.append(f"| 0x{int(info.opcode):02x} | `{info.opcode.name}` | {info.fc_class.name.lower()} | "
                     f"{'yes' if info.has_payload else 'no'} | {legal} | {info.aux} | {info.summary} |")
    return "\n".join(lines) + "\n"


def _enum_table(enum_type: type[_Enum], meaning: Callable[[_Enum], str], *, hex_values: bool = False) -> str:
    lines = ["| value | name | meaning |", "|---|---|---|"]
    for member in enum_type:
        value = f"0x{int(member):02x}" if hex_values else str(int(member))
        lines.append(f"| {value} | `{member.name}` | {meaning(member)} |")
    return "\n".join(lines) + "\n"



def _tlp_kinds() -> str:
    lines = ["| kind | mnemonic | Fmt | Type | header | data | class |", "|---|---|---|---|---|---|---|"]
    for info in pcie.TLP_TYPES.values():
        lines.append(f"| `{info.kind.name}` | {info.mnemonic} | {info.fmt:03b} | {info.type:05b} | "
                     f"{info.header_size} B | {'yes' if info.has_data else 'no'} | {info.fc_class.name.lower()} |")
    return "\n".join(lines) + "\n"


def _dllp_kinds() -> str:
    lines = ["| type byte | kind | layout |", "|---|---|---|"]
    for info in pcie.DLLP_TYPES.values():
        lines.append(f"| 0x{int(info.kind):02x} | `{info.kind.name}` | {info.layout.name.lower()} |")
    return "\n".join(lines) + "\n"


def _cxl_slot_tables() -> str:
    parts = []
    for (direction, fmt), table in cxl.SLOT_FIELDS.items():
        parts.append(f"**{fmt}, {direction.name}**\n\n" + render_lsb_table(table))
    return "\n".join(parts)


def _link_state_table() -> str:
    inputs = list(LinkInput)
    lines = ["| state \\ input | " + " | ".join(i.name for i in inputs) + " |",
             "|---|" + "---|" * len(inputs)]
    for state in LinkState:
        cells = []
        for event in inputs:
            if (state, event) in TRANSITIONS:
                next_state, action = TRANSITIONS[(state, event)]
                cells.append(f"{next_state.name} / {action.value}")
            else:
                cells.append(f"*{ERRORS[(state, event)].__name__}*")
        lines.append(f"| **{state.name}** | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _link_state_diagram() -> str:
    edges: dict[tuple[LinkState, LinkState], list[str]] = {}
    for (state, event), (next_state, _action) in TRANSITIONS.items():
        if next_state is not state:
            edges.setdefault((state, next_state), []).append(event.name)
    lines = ["```mermaid", "stateDiagram-v2", "    [*] --> DOWN"]
    for (state, next_state), events in edges.items():
        lines.append(f"    {state.name} --> {next_state.name}: {', '.join(events)}")
    return "\n".join(lines) + "\n```\n"


def _link_inputs() -> str:
    lines = ["| input | what happened |", "|---|---|"]
    for member in LinkInput:
        lines.append(f"| `{member.name}` | {member.value} |")
    return "\n".join(lines) + "\n"


def _capture_linktypes() -> str:
    lines = ["| link type | pcapng number | name | packets |", "|---|---|---|---|"]
    for linktype in LINKTYPES.values():
        lines.append(f"| {linktype.user} | {linktype.number} | `{linktype.name}` | {linktype.summary} |")
    return "\n".join(lines) + "\n"


def _link_defaults() -> str:
    config = LinkConfig()
    lines = ["| parameter | default |", "|---|---|"]
    for name, value in config.__dict__.items():
        lines.append(f"| `{name}` | {value} |")
    return "\n".join(lines) + "\n"


def _link_timers() -> str:
    """How a fabric derives each OISA link's timers from its rate and latency, with provenance."""
    lines = ["| parameter | rule | value | provenance |", "|---|---|---|---|"]
    for name, rule, figure in LINK_TIMER_RULES:
        lines.append(f"| `{name}` | {rule} | {figure.value} | {figure.provenance} |")
    return "\n".join(lines) + "\n"


def _vdesc_table(name: str) -> str:
    return vdesc.vdesc_tables()[name]


def _conformance_table(name: str) -> str:
    return conformance_tables()[name]


BLOCKS: dict[str, Callable[[], str]] = {
    "oisa-message-header": lambda: render_table(message.HEADER_FIELDS),
    "oisa-coll-extension": lambda: render_table(message.COLL_FIELDS),
    "oisa-opcodes": _opcode_table,
    "oisa-status": lambda: _enum_table(Status, STATUS_MEANING.__getitem__),
    "oisa-coll-dtypes": lambda: _enum_table(CollDtype, lambda d: f"{d.itemsize}-byte elements",
                                              hex_values=True),
    "oisa-flit-header": lambda: render_table(flit.HEADER_FIELDS),
    "oisa-credit-entry": lambda: render_table(flit.CREDIT_FIELDS),
    "oisa-control-codes": lambda: _enum_table(flit.ControlCode, flit.CONTROL_MEANING.__getitem__),
    "pcie-tlp-kinds": _tlp_kinds,
    "pcie-dw0": lambda: render_table(pcie.TLP_DW0_FIELDS),
    "pcie-request": lambda: render_table(pcie.REQUEST_FIELDS),
    "pcie-request64": lambda: render_table(pcie.REQUEST64_FIELDS),
    "pcie-io-request": lambda: render_table(pcie.IO_REQUEST_FIELDS),
    "pcie-config": lambda: render_table(pcie.CONFIG_FIELDS),
    "pcie-message": lambda: render_table(pcie.MESSAGE_FIELDS),
    "pcie-completion": lambda: render_table(pcie.COMPLETION_FIELDS),
    "pcie-dllp-kinds": _dllp_kinds,
    "pcie-dllp-ack-nak": lambda: render_table(pcie.ACK_NAK_FIELDS),
    "pcie-dllp-flow-control": lambda: render_table(pcie.FLOW_CONTROL_FIELDS),
    "pcie-dll-sequence": lambda: render_table(pcie.SEQUENCE_FIELDS),
    "cxl-m2s-req": lambda: render_lsb_table(cxl.MESSAGE_FIELDS[cxl.MemClass.M2S_REQ]),
    "cxl-m2s-rwd": lambda: render_lsb_table(cxl.MESSAGE_FIELDS[cxl.MemClass.M2S_RWD]),
    "cxl-s2m-ndr": lambda: render_lsb_table(cxl.MESSAGE_FIELDS[cxl.MemClass.S2M_NDR]),
    "cxl-s2m-drs": lambda: render_lsb_table(cxl.MESSAGE_FIELDS[cxl.MemClass.S2M_DRS]),
    "cxl-flit": lambda: render_table(cxl.FLIT_FIELDS),
    "cxl-slots": _cxl_slot_tables,
    **{name: functools.partial(_vdesc_table, name) for name in vdesc.vdesc_tables()},
    "bridge-pcie": pcie_bridge_markdown,
    "bridge-cxl": cxl_bridge_markdown,
    "bridge-vdesc": vdesc_bridge_markdown,
    "link-state-table": _link_state_table,
    "link-state-diagram": _link_state_diagram,
    "link-inputs": _link_inputs,
    "link-defaults": _link_defaults,
    "link-timers": _link_timers,
    "capture-linktypes": _capture_linktypes,
    "wireshark-fields": fields_markdown,
    **LUA_BLOCKS,
    **{name: functools.partial(_conformance_table, name) for name in conformance_tables()},
    "fuzz-targets": fuzz_targets,
}


_BLOCK = re.compile(r"((?:<!-- |-- )generated: (?P<name>[\w-]+)(?: -->)?\n)(?P<body>.*?)"
                    r"((?:<!-- |-- )end generated(?: -->)?)", re.S)


def render_file(text: str, source: str = "") -> str:
    """``text`` with every generated block replaced by what the code renders now."""

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in BLOCKS:
            raise KeyError(f"{source}: unknown generated block {name!r} (known: {', '.join(BLOCKS)})")
        return match.group(1) + BLOCKS[name]() + match.group(4)

    return _BLOCK.sub(replace, text)


def spec_files(root: Path) -> list[Path]:
    """Files with generated blocks: the specification's pages and the Wireshark dissector."""
    return [*sorted((root / "specs").glob("*.md")), root / DISSECTOR]


def check(root: Path) -> list[Path]:
    """Spec files whose generated blocks differ from the code."""
    return [path for path in spec_files(root) if render_file(path.read_text(), str(path)) != path.read_text()]


def update(root: Path) -> list[Path]:
    """Rewrite stale generated blocks; return the files changed."""
    changed = check(root)
    for path in changed:
        path.write_text(render_file(path.read_text(), str(path)))
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oisa.specgen", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: here)")
    args = parser.parse_args(argv)
    stale = check(args.root) if args.check else update(args.root)
    for path in stale:
        print(("stale: " if args.check else "updated: ") + str(path))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
