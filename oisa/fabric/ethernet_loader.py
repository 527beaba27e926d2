"""Reading an Ethernet switch's ``[buffer]``, ``[pfc]``, ``[ecn]`` and ``[ecmp]`` and a NIC's ``[dcqcn]`` from a
fabric file, and refusing settings that cannot work, each with one line naming the key and the bound.

Every setting is a plain value (``xoff = "96KiB"``) or a sourced figure
(``xoff = { value = "96KiB", source = "..." }``); left out, it takes the cited default of
:mod:`oisa.fabric.ethernet_config`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from oisa.config import Table
from oisa.errors import ConfigError
from oisa.fabric.ecmp import ECMP_MODES
from oisa.fabric.ethernet_config import (
    BufferConfig,
    DcqcnConfig,
    EcnConfig,
    EthernetBuffering,
    PfcConfig,
    pfc_headroom_floor,
)
from oisa.fabric.framing import ETHERNET_PACKET_OVERHEAD, RDMA_EXTENDED_HEADER
from oisa.units import parse_rate, parse_size, parse_time

if TYPE_CHECKING:
    from oisa.fabric.spec import FabricSpec

__all__ = ["check_headroom", "read_buffering", "read_dcqcn"]

_SECTIONS = ("buffer", "pfc", "ecn", "ecmp")


def _value(table: Table, key: str, parse: Callable[[Any], Any], default: Any) -> Any:
    if key not in table:
        table.get(key, object, None)
        return default
    if isinstance(table.data[key], dict):
        return table.figure(key, parse).value
    return table.parsed(key, parse)


def _size(what: str) -> Callable[[Any], int]:
    return lambda value: parse_size(value, what)


def _size_or_zero(what: str) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if value == 0 or value == "0":
            return 0
        return parse_size(value, what)
    return parse


def _fraction(high: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= high:
            raise ValueError(f"expected a number above 0 and at most {high:g}, got {value!r}")
        return float(value)
    return parse


def read_buffering(table: Table) -> EthernetBuffering | None:
    """The ``buffer``/``pfc``/``ecn`` sections of a switch's table (read and finished here); None
    when it has no ``buffer`` section: an ideal, unbounded queue."""
    present = [name for name in _SECTIONS if name in table]
    if not present:
        return None
    if "buffer" not in present:
        raise table.error(f"[{present[0]}] needs a [buffer] section beside it: PFC and ECN act on a buffer", present[0])
    base = EthernetBuffering()
    buffer_table = table.table("buffer")
    buffer = BufferConfig(total_bytes=_value(buffer_table, "total", _size("buffer.total"), base.buffer.total_bytes),
                          alpha=_value(buffer_table, "alpha", _fraction(64.0), base.buffer.alpha))
    buffer_table.finish()
    pfc_table = table.table("pfc", optional=True)
    enabled = pfc_table.get("enabled", bool, base.pfc.enabled)
    xoff = _value(pfc_table, "xoff", _size("pfc.xoff"), base.pfc.xoff_bytes)
    xon = _value(pfc_table, "xon", _size_or_zero("pfc.xon"), min(base.pfc.xon_bytes, xoff))
    headroom = _value(pfc_table, "headroom", _size("pfc.headroom"), base.pfc.headroom_bytes)
    priorities = pfc_table.get("priorities", list, sorted(base.pfc.priorities))
    if any(isinstance(p, bool) or not isinstance(p, int) or not 0 <= p <= 7 for p in priorities):
        raise pfc_table.error(f"priorities are 0 to 7 (IEEE 802.1Q), got {priorities!r}", "priorities")
    if xon > xoff:
        raise pfc_table.error(f"xon ({xon} bytes) must not exceed xoff ({xoff} bytes)", "xon")
    if enabled and xoff + headroom > buffer.total_bytes:
        raise pfc_table.error(f"xoff plus headroom ({xoff + headroom} bytes) exceeds the shared buffer "
                              f"({buffer.total_bytes} bytes)", "xoff")
    pfc_table.finish()
    ecn_table = table.table("ecn", optional=True)
    ecn = EcnConfig(enabled=ecn_table.get("enabled", bool, base.ecn.enabled),
                    kmin_bytes=_value(ecn_table, "kmin", _size("ecn.kmin"), base.ecn.kmin_bytes),
                    kmax_bytes=_value(ecn_table, "kmax", _size("ecn.kmax"), base.ecn.kmax_bytes),
                    pmax=_value(ecn_table, "pmax", _fraction(1.0), base.ecn.pmax))
    if ecn.kmin_bytes > ecn.kmax_bytes:
        raise ecn_table.error(f"kmin ({ecn.kmin_bytes} bytes) must not exceed kmax ({ecn.kmax_bytes} bytes)", "kmin")
    if ecn.kmax_bytes > buffer.total_bytes:
        raise ecn_table.error(f"kmax ({ecn.kmax_bytes} bytes) exceeds the shared buffer ({buffer.total_bytes} bytes)",
                              "kmax")
    ecn_table.finish()
    ecmp_table = table.table("ecmp", optional=True)
    ecmp = ecmp_table.get("mode", str, base.ecmp)
    if ecmp not in ECMP_MODES:
        raise ecmp_table.error(f"mode is {' or '.join(repr(m) for m in ECMP_MODES)}, not {ecmp!r}", "mode")
    ecmp_table.finish()
    pfc = PfcConfig(enabled=enabled, xoff_bytes=xoff, xon_bytes=xon, headroom_bytes=headroom,
                    priorities=frozenset(priorities))
    return EthernetBuffering(buffer, pfc, ecn, ecmp, where=table.key("pfc.headroom"), source=table.source)


def read_dcqcn(table: Table) -> DcqcnConfig | None:
    """A NIC's ``[dcqcn]`` section (read and finished here), None if it has none."""
    if "dcqcn" not in table:
        return None
    section = table.table("dcqcn")
    base = DcqcnConfig()
    config = DcqcnConfig(
        enabled=section.get("enabled", bool, base.enabled),
        cnp_interval_ps=_value(section, "cnp_interval", lambda v: parse_time(v, "dcqcn.cnp_interval"),
                               base.cnp_interval_ps),
        g=_value(section, "g", _fraction(1.0), base.g),
        alpha_timer_ps=_value(section, "alpha_timer", _positive_time("dcqcn.alpha_timer"), base.alpha_timer_ps),
        rate_timer_ps=_value(section, "rate_timer", _positive_time("dcqcn.rate_timer"), base.rate_timer_ps),
        byte_counter=_value(section, "byte_counter", _size("dcqcn.byte_counter"), base.byte_counter),
        fast_recovery=_value(section, "fast_recovery", _count("dcqcn.fast_recovery"), base.fast_recovery),
        rate_ai_bps=_value(section, "rate_ai", lambda v: parse_rate(v, "dcqcn.rate_ai"), base.rate_ai_bps),
        rate_hai_bps=_value(section, "rate_hai", lambda v: parse_rate(v, "dcqcn.rate_hai"), base.rate_hai_bps),
        min_rate_bps=_value(section, "min_rate", lambda v: parse_rate(v, "dcqcn.min_rate"), base.min_rate_bps),
        retransmit_timeout_ps=_value(section, "retransmit_timeout", _positive_time("dcqcn.retransmit_timeout"),
                                     base.retransmit_timeout_ps),
        rate_decrease_interval_ps=_value(section, "rate_decrease_interval",
                                         lambda v: parse_time(v, "dcqcn.rate_decrease_interval"),
                                         base.rate_decrease_interval_ps),
        clamp_target_always=section.get("clamp_target_always", bool, base.clamp_target_always),
        min_dec_factor=_value(section, "min_dec_factor", _fraction(1.0), base.min_dec_factor),
    )
    section.finish()
    return config


def _positive_time(what: str) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        ps = parse_time(value, what)
        if ps <= 0:
            raise ValueError(f"{what}: {value!r} must be greater than zero")
        return ps
    return parse


def _count(what: str) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{what}: expected a whole number, 0 or more, got {value!r}")
        return value
    return parse


def check_headroom(spec: FabricSpec) -> None:
    """Refuse a lossless switch whose PFC headroom is under one round trip of one of its links (what
    arrives between sending XOFF and the upstream stopping could not fit, and frames would drop)."""
    nodes = {s.id: s for s in spec.switches}
    mtu = {n.id: n.mtu for n in spec.nics}
    for link in spec.links:
        for end in (link.a, link.b):
            switch = nodes.get(end)
            buffering = getattr(switch, "buffering", None)
            if switch is None or buffering is None or not buffering.pfc.enabled:
                continue
            frame = max(mtu.values(), default=4096) + ETHERNET_PACKET_OVERHEAD + RDMA_EXTENDED_HEADER
            floor = pfc_headroom_floor(link.rate_bps, link.latency_ps, frame)
            if buffering.pfc.headroom_bytes < floor:
                raise ConfigError(f"headroom ({buffering.pfc.headroom_bytes} bytes) is below one round trip of "
                                  f"{switch.name}'s link at {link.rate_bps / 1e9:g} Gb/s over "
                                  f"{link.latency_ps / 1000:g} ns plus a frame ({floor} bytes)",
                                  source=buffering.source, key=buffering.where)
