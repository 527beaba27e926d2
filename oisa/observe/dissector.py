"""The Wireshark dissector's tables, generated from the construct schemas.

``oisa/observe/wireshark/oisa.lua`` is hand-written logic (reassembling the message stream out
of flits, checking CRCs, choosing a layout) around blocks generated here: every field it shows
and filters on, with its byte offset, width, bit mask and meaning, is read off the normative
schemas of :mod:`oisa.wire`'s families, and every value table off their enums. ``python -m oisa.specgen``
rewrites the blocks (they use the same ``generated:`` markers as ``specs/``), and the test suite
fails if the shipped file differs from what this module renders, so the dissector cannot drift
from the bytes oisa writes.
"""

from __future__ import annotations

import enum
import os
import shutil
import sys
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from oisa.errors import UsageError
from oisa.observe.capture import LINKTYPES
from oisa.wire import cxl, pcie, vdesc
from oisa.wire.oisa import OPCODES, CollDtype, CollOp, FcClass, Opcode, flit, message
from oisa.wire.schema import Field

__all__ = [
    "LAYOUTS",
    "LUA_BLOCKS",
    "DissectorField",
    "Layout",
    "dissector_fields",
    "dissector_path",
    "fields_markdown",
    "install_dissector",
    "personal_plugin_dir",
]


def dissector_path() -> Path:
    """Where the installed package keeps the dissector."""
    return Path(str(files("oisa.observe") / "wireshark" / "oisa.lua"))


def personal_plugin_dir() -> Path:
    """Wireshark's personal plugin folder, where it loads Lua plug-ins from at start-up."""
    if sys.platform == "win32" and "APPDATA" in os.environ:
        return Path(os.environ["APPDATA"]) / "Wireshark" / "plugins"
    return Path.home() / ".local" / "lib" / "wireshark" / "plugins"


def install_dissector(directory: Path | None = None) -> Path:
    """Copy the dissector into ``directory`` (default: the personal plugin folder); return where."""
    directory = personal_plugin_dir() if directory is None else directory
    target = directory / dissector_path().name
    try:
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dissector_path(), target)
    except OSError as exc:
        raise UsageError(f"cannot install the Wireshark dissector into {str(directory)!r}: "
                         f"{exc.strerror or exc}") from None
    return target


@dataclass(frozen=True)
class Layout:
    """One fixed layout as the dissector shows it.

    ``lsb``: bits are numbered from bit 0 of byte 0 upward (CXL and VDESC) rather than from the
    most significant bit of byte 0; ``little``: multi-byte values are little-endian.
    """

    key: str
    prefix: str
    fields: list[Field]
    lsb: bool = False
    little: bool = False
    values: dict[str, type[enum.IntEnum]] = field(default_factory=dict)
    skip: tuple[str, ...] = ()


@dataclass(frozen=True)
class DissectorField:
    """A field as Wireshark registers it: the bytes that hold it and where in them it sits."""

    abbrev: str
    name: str
    doc: str
    offset: int  # first byte holding the field
    length: int  # bytes holding it
    shift: int  # value = (those bytes as an integer >> shift) & (2**bits - 1)
    bits: int
    little: bool
    values: str | None

    @property
    def lua_type(self) -> str:
        if self.bits % 8 == 0 and self.shift == 0 and self.length > 8:
            return "bytes"
        if self.bits == 1 and self.length <= 4:
            return "bool"
        if self.length <= 4:
            return f"uint{8 * self.length}"
        return "uint64"

    @property
    def base(self) -> str:
        hexadecimal = ("address", "magic", "crc", "_id", "_be", "byte_enable", "message_code", "message_data",
                       "opcode", "code", "kind", "fmt", "type", "dtype")
        return "HEX" if any(self.name.endswith(h) for h in hexadecimal) and self.bits > 1 else "DEC"


def dissector_fields(layout: Layout) -> list[DissectorField]:
    out = []
    for f in layout.fields:
        if f.name in layout.skip:
            continue
        first = f.bit_offset // 8
        last = (f.bit_offset + f.bits - 1) // 8
        length = last - first + 1
        shift = f.bit_offset - 8 * first if layout.lsb else 8 * (last + 1) - f.bit_offset - f.bits
        values = layout.values.get(f.name)
        out.append(DissectorField(layout.prefix + f.name, f.name, f.doc, first, length, shift, f.bits,
                                  layout.little, values.__name__ if values else None))
    return out


_TLP_LAYOUTS = {pcie.Layout.REQUEST: pcie.REQUEST_FIELDS, pcie.Layout.REQUEST64: pcie.REQUEST64_FIELDS,
                pcie.Layout.IO: pcie.IO_REQUEST_FIELDS, pcie.Layout.CONFIG: pcie.CONFIG_FIELDS,
                pcie.Layout.MESSAGE: pcie.MESSAGE_FIELDS, pcie.Layout.COMPLETION: pcie.COMPLETION_FIELDS}
_DW0 = tuple(f.name for f in pcie.TLP_DW0_FIELDS)
_CXL_VALUES: dict[cxl.MemClass, dict[str, type[enum.IntEnum]]] = {
    cxl.MemClass.M2S_REQ: {"mem_opcode": cxl.M2SReqOpcode, "snp_type": cxl.SnpType},
    cxl.MemClass.M2S_RWD: {"mem_opcode": cxl.M2SRwDOpcode, "snp_type": cxl.SnpType},
    cxl.MemClass.S2M_NDR: {"opcode": cxl.S2MNDROpcode, "dev_load": cxl.DevLoad},
    cxl.MemClass.S2M_DRS: {"opcode": cxl.S2MDRSOpcode, "dev_load": cxl.DevLoad},
}

LAYOUTS: list[Layout] = [
    Layout("flit_header", "oisa.", flit.HEADER_FIELDS,
           values={"kind": flit.FlitKind, "code": flit.ControlCode, "ack_kind": flit.AckKind, "crd_class": FcClass}),
    Layout("credit_entry", "oisa.entry.", flit.CREDIT_FIELDS, values={"fc_class": FcClass}),
    Layout("message_header", "oisa.", message.HEADER_FIELDS, values={"opcode": Opcode}),
    Layout("coll_ext", "oisa.coll.", message.COLL_FIELDS, values={"op": CollOp, "dtype": CollDtype}),
    Layout("tlp_dw0", "oisa_tlp.", pcie.TLP_DW0_FIELDS),
    *(Layout(f"tlp_{kind.value}", f"oisa_tlp.{kind.value}.", table, skip=_DW0,
             values={"status": pcie.CplStatus} if kind is pcie.Layout.COMPLETION else {})
      for kind, table in _TLP_LAYOUTS.items()),
    Layout("vdesc_header", "oisa_vdesc.", vdesc.HEADER_FIELDS, lsb=True, little=True,
           values={"kind": vdesc.VdescType, "status": vdesc.VdescStatus}),
    Layout("vdesc_reduce", "oisa_vdesc.reduce.", vdesc.REDUCE_FIELDS, little=True,
           values={"op": vdesc.ReduceOp, "dtype": vdesc.ReduceDtype}),
    Layout("cxl_class", "oisa_cxl.", cxl.FRAME_FIELDS[cxl.MemClass.M2S_REQ][:1], lsb=True, little=True,
           values={"class": cxl.MemClass}),
    *(Layout(f"cxl_{cls.name.lower()}", f"oisa_cxl.{cls.name.lower()}.", cxl.FRAME_FIELDS[cls], lsb=True,
             little=True, values=_CXL_VALUES[cls], skip=("class",))
      for cls in cxl.MemClass),
]


# -- rendering ----------------------------------------------------------------------------------

def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _lua_field(f: DissectorField) -> str:
    values = f"VALUES.{f.values}" if f.values else "nil"
    return (f"    {{abbrev={_lua_string(f.abbrev)}, name={_lua_string(f.name)}, type={_lua_string(f.lua_type)}, "
            f"offset={f.offset}, length={f.length}, shift={f.shift}, bits={f.bits}, "
            f"le={'true' if f.little else 'false'}, base=base.{f.base}, values={values},\n"
            f"     doc={_lua_string(f.doc)}}},")


def _value_tables() -> str:
    enums: dict[str, type[enum.IntEnum]] = {}
    for layout in LAYOUTS:
        for enum_type in layout.values.values():
            enums[enum_type.__name__] = enum_type
    lines = ["local VALUES = {"]
    for name, enum_type in enums.items():
        lines.append(f"  {name} = {_lua_table([f'[{int(m)}]={_lua_string(m.name)}' for m in enum_type])},")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _layouts() -> str:
    lines = [_value_tables().rstrip("\n"), "", "local LAYOUTS = {"]
    for layout in LAYOUTS:
        lines.append(f"  {layout.key} = {{")
        lines.extend(_lua_field(f) for f in dissector_fields(layout))
        lines.append("  },")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _lua_table(entries: list[str], indent: str = "    ") -> str:
    """A Lua table constructor of ``entries``, wrapped to lines of about 100 characters."""
    lines, line = [], ""
    for entry in entries:
        if line and len(indent) + len(line) + len(entry) > 100:
            lines.append(indent + line.rstrip())
            line = ""
        line += entry + ", "
    lines.append(indent + line.rstrip(", "))
    return "{\n" + "\n".join(lines) + "}"


def _lua_set(values: list[int]) -> str:
    return _lua_table([f"[0x{v:02x}]=true" for v in values])


def _constants() -> str:
    tlp_kinds = []
    for byte0 in range(256):
        try:
            info = pcie.tlp_info_of_byte0(byte0)
        except ValueError:
            continue
        tlp_kinds.append(f"[0x{byte0:02x}]={{{_lua_string(info.mnemonic)}, {_lua_string('tlp_' + info.layout.value)}, "
                         f"{info.header_size}, {'true' if info.has_data else 'false'}}}")
    rows = [
        ("FLIT_HEADER_SIZE", str(flit.FLIT_HEADER_SIZE)),
        ("FLIT_CRC_SIZE", str(flit.FLIT_CRC_SIZE)),
        ("SEQ_MODULUS", str(flit.SEQ_MODULUS)),
        ("NO_MESSAGE_START", f"0x{flit.NO_MESSAGE_START:04x}"),
        ("CREDIT_ENTRY_SIZE", str(flit.CREDIT_ENTRY_SIZE)),
        ("FLIT_DATA", str(int(flit.FlitKind.DATA))),
        ("ENTRY_CODES", _lua_set([int(c) for c in (flit.ControlCode.CREDIT, flit.ControlCode.INIT_FC1,
                                                   flit.ControlCode.INIT_FC2)])),
        ("MESSAGE_HEADER_SIZE", str(message.HEADER_SIZE)),
        ("COLL_EXT_SIZE", str(message.COLL_EXT_SIZE)),
        ("COLL_REDUCE", f"0x{int(Opcode.COLL_REDUCE):02x}"),
        ("OPCODES", _lua_set(list(OPCODES))),
        ("OPCODES_WITH_PAYLOAD", _lua_set([op for op, info in OPCODES.items() if info.has_payload])),
        ("TLP_KINDS", _lua_table(tlp_kinds)),
        ("TLP_DIGEST_SIZE", str(pcie.DIGEST_SIZE)),
        ("VDESC_MAGIC", f"0x{vdesc.MAGIC:04x}"),
        ("VDESC_HEADER_SIZE", str(vdesc.HEADER_SIZE)),
        ("VDESC_CRC_SIZE", str(vdesc.CRC_SIZE)),
        ("VDESC_REDUCE", f"0x{int(vdesc.VdescType.REDUCE):02x}"),
        ("VDESC_REDUCE_SIZE", str(vdesc.REDUCE_EXT_SIZE)),
        ("VDESC_WITH_PAYLOAD", _lua_set([int(k) for k, info in vdesc.VDESC_TYPES.items() if info.has_payload])),
        ("CXL_CLASSES", "{" + ", ".join(f"[{int(c)}]={_lua_string('cxl_' + c.name.lower())}"
                                        for c in cxl.MemClass) + "}"),
        ("CXL_FRAME_SIZE", "{" + ", ".join(f"[{int(c)}]={size}" for c, size in cxl.FRAME_SIZE.items()) + "}"),
        ("LINKTYPES", "{" + ", ".join(f"[{_lua_string(t.name)}]={t.number}" for t in LINKTYPES.values()) + "}"),
    ]
    return "local C = {\n" + "".join(f"  {name} = {value},\n" for name, value in rows) + "}\n"


LUA_BLOCKS = {"wireshark-layouts": _layouts, "wireshark-constants": _constants}
"""Generated blocks of ``oisa.lua``, by name; :mod:`oisa.specgen` renders them."""


def fields_markdown() -> str:
    """Every display-filter field of the dissector, as ``specs/captures.md`` lists them."""
    lines = ["| field | type | meaning |", "|---|---|---|"]
    for layout in LAYOUTS:
        for f in dissector_fields(layout):
            lines.append(f"| `{f.abbrev}` | {f.lua_type} | {f.doc} |")
    return "\n".join(lines) + "\n"
