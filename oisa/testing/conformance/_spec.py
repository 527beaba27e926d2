"""The conformance tables of ``specs/conformance.md``, rendered from the case registry and the
tables the cases read, so the page cannot drift from the kit (``python -m oisa.specgen``)."""

from __future__ import annotations

from oisa.testing.conformance._cases import CAPABILITY_OPERATIONS, FIELD_CASES, owner
from oisa.testing.conformance._exchanges import SAME_OPERATION, Finding
from oisa.testing.conformance._registry import CASES
from oisa.wire.oisa import Message, Opcode, Status

__all__ = ["spec_tables"]


def _cases() -> str:
    lines = ["| ID | level | needs | rule |", "|---|---|---|---|"]
    for case in CASES.values():
        needs = f"`{case.needs.value}`" if case.needs else "-"
        lines.append(f"| `{case.id}` | {case.level.value} | {needs} | {case.rule} |")
    return "\n".join(lines) + "\n"


def _fields() -> str:
    request = Message(Opcode.MEM_RD, 0, 1, length=4)
    success = Message(Opcode.CPL_D, 1, 0, length=4, payload=bytes(4))
    failure = Message(Opcode.CPL, 1, 0, aux=Status.UR)
    lines = ["| field | of a request | of a successful completion | of an error completion |", "|---|---|---|---|"]
    for field in FIELD_CASES:
        cells = [owner(Finding(field, message, "")) for message in (request, success, failure)]
        if field == "refused":  # a refused request is not a finding: the card's endpoint serves it
            cells[0] = "-"
        lines.append(f"| `{field}` | " + " | ".join(f"`{cell}`" if cell != "-" else cell for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def _capabilities() -> str:
    lines = ["| capability | operations | the card must carry them when it |", "|---|---|---|"]
    for capability, (opcodes, roles) in CAPABILITY_OPERATIONS.items():
        lines.append(f"| `{capability.value}` | {', '.join(f'`{op.name}`' for op in opcodes)} | "
                     f"{' or '.join(role.value for role in roles)} |")
    return "\n".join(lines) + "\n"


def _same_operation() -> str:
    groups: dict[str, list[str]] = {}
    for opcode, operation in SAME_OPERATION.items():
        groups.setdefault(operation, []).append(f"`{opcode.name}`")
    return "\n".join(f"* {operation}: {', '.join(opcodes)}" for operation, opcodes in groups.items()) + "\n"


def spec_tables() -> dict[str, str]:
    """Generated block name -> Markdown."""
    return {"conformance-cases": _cases(), "conformance-fields": _fields(),
            "conformance-capabilities": _capabilities(), "conformance-same-operation": _same_operation()}
