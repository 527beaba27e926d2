"""Byte layouts, sans-IO: every frame oisa reads or writes, one subpackage per protocol family.

* :mod:`oisa.wire.oisa`: OISA transaction-layer messages, link-layer flits, the opcode table;
* :mod:`oisa.wire.pcie`: PCIe TLPs and the data link layer (DLLPs, sequence number and LCRC);
* :mod:`oisa.wire.cxl`: CXL.mem messages in CXL 2.0's 68-byte flits;
* :mod:`oisa.wire.vdesc`: VDESC, the descriptor format of oisa's emulated vendor GPU.

Each family holds its construct schemas (the normative layouts), its fast codec where the
emulation's hot path needs one (proven equal to the schemas by the tests), its plain-field
conversions for ``oisa decode``/``oisa encode`` and any CRC of its own. The families do not know
each other; what they share lives here, public: :mod:`~oisa.wire.schema` (field tables and exact
parsing), :mod:`~oisa.wire.bits` (layouts numbered from bit 0 up), :mod:`~oisa.wire.plain_fields`
(strict reading of plain fields), :mod:`~oisa.wire.fc_class` (the flow-control classes PCIe and
OISA share), :mod:`~oisa.wire.crc` and :mod:`~oisa.wire.crc32c`. :mod:`~oisa.wire.formats`, the
table of ``oisa decode``/``oisa encode`` formats, sits above the families.

What it must not know: trio and every layer above it, ``link``, ``transaction`` and ``sim`` first.
It knows bytes only and imports nothing of oisa but :mod:`oisa.errors`.
Nothing is re-exported here, so that importing one family does not load the others: import from
the family (``from oisa.wire.oisa import Message, Opcode``).
"""
