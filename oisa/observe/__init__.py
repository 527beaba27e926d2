"""Observers: what a run leaves behind for other tools to open, written while it runs.

What it owns:

* :mod:`~oisa.observe.capture`: pcapng captures of every frame on the wires and across the
  cards' adapters, for Wireshark and tshark;
* :mod:`~oisa.observe.dissector` and ``wireshark/oisa.lua``: the Wireshark dissector that
  decodes those captures, shipped as package data, its field tables generated from the wire
  schemas;
* :mod:`~oisa.observe.timeline`: Perfetto timelines (tracks, slices, counters, flows);
* :mod:`~oisa.observe.timeline_read`: reading a timeline back as tables, offline.

Capture and timeline are :class:`oisa.sim.observe.Observer` subclasses: that hook base class,
which the kernel and the devices call, stays in :mod:`oisa.sim`; this package only implements it.

What it must not know: ``device``, ``fabric``, ``workload`` and ``report``. It imports ``sim``
and ``wire`` (and what lies below them). What it
needs of a fabric it reads through :class:`FabricView`, which any
:class:`~oisa.fabric.FabricSpec` fits. :mod:`oisa.report` keeps what is made of results
(tables, JSON, CSV, plots).

The timeline names are loaded on first use: Perfetto's protobuf classes take a noticeable time to
import, and a run without ``--trace`` should not pay it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from oisa.observe.capture import (
    LINKTYPES,
    NATIVE_LINKTYPES,
    Capture,
    LinkSelector,
    Linktype,
    interface_names,
    link_selector,
)
from oisa.observe.dissector import (
    LAYOUTS,
    LUA_BLOCKS,
    DissectorField,
    Layout,
    dissector_fields,
    dissector_path,
    fields_markdown,
    install_dissector,
    personal_plugin_dir,
)

if TYPE_CHECKING:
    from oisa.observe.timeline import (
        CHUNK_PACKETS,
        OISA_LINK,
        SEQUENCE_ID,
        FabricView,
        LinkView,
        Timeline,
        timestamp_ns,
        trace_paths,
    )
    from oisa.observe.timeline_read import Slice, TimelineTables, Track, read_timeline

_ON_FIRST_USE = {
    **dict.fromkeys(("CHUNK_PACKETS", "OISA_LINK", "SEQUENCE_ID", "FabricView", "LinkView", "Timeline", "timestamp_ns",
                     "trace_paths"), "oisa.observe.timeline"),
    **dict.fromkeys(("Slice", "TimelineTables", "Track", "read_timeline"), "oisa.observe.timeline_read"),
}


def __getattr__(name: str) -> Any:
    """The timeline names, imported when first asked for (``from oisa.observe import Timeline``)."""
    module = _ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "CHUNK_PACKETS",
    "LAYOUTS",
    "LINKTYPES",
    "LUA_BLOCKS",
    "NATIVE_LINKTYPES",
    "OISA_LINK",
    "SEQUENCE_ID",
    "Capture",
    "DissectorField",
    "FabricView",
    "Layout",
    "LinkSelector",
    "LinkView",
    "Linktype",
    "Slice",
    "Timeline",
    "TimelineTables",
    "Track",
    "dissector_fields",
    "dissector_path",
    "fields_markdown",
    "install_dissector",
    "interface_names",
    "link_selector",
    "personal_plugin_dir",
    "read_timeline",
    "timestamp_ns",
    "trace_paths",
]
