"""What an Ethernet switch's buffer, PFC and ECN and a RoCE NIC's DCQCN are set to, and the rules
that refuse settings which cannot work.

A fabric file gives them per switch and per NIC (``[buffer]``, ``[pfc]``, ``[ecn]`` under an
Ethernet switch's table, ``[dcqcn]`` under a NIC's; specs/fabric-format.md, "RoCE"). Every figure
that a file leaves out takes the default below, each with its source. A switch without a
``[buffer]`` keeps the ideal, unbounded queue of the frame ports (no drops, no pauses).

This module knows no trio and no running fabric: the loader reads into these values, and
:mod:`oisa.fabric.roce` runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from oisa.config import Figure
from oisa.units import US, KiB, MiB

__all__ = ["DCQCN_PAPER", "DEFAULT_DCQCN", "BufferConfig", "DcqcnConfig", "EcnConfig", "EthernetBuffering", "PfcConfig",
           "pfc_headroom_floor"]

SHARED_BUFFER = Figure(160 * MiB, source="NVIDIA Spectrum-4 class (SN5600 datasheet: 51.2 Tb/s, 128 x 400GbE, "
                       "160 MB fully shared packet buffer; https://www.nvidia.com/en-us/networking/ethernet-switching/"
                       "spectrum-sn5000/); Broadcom's Tomahawk 5 (BCM78900) has the same radix and a shared buffer "
                       "of the same order")
ALPHA = Figure(1.0, source="dynamic thresholds, Choudhury and Hahne, 'Dynamic queue length thresholds for "
               "shared-memory packet switches', IEEE/ACM ToN 6(2), 1998: a queue may hold alpha times the free "
               "buffer; alpha = 1 (SONiC's dynamic_th = 0, 2^0) is the usual setting for lossless pools")
XOFF = Figure(96 * KiB, assumption="an ingress priority group pauses its upstream once it holds 96 KiB: about "
              "twenty 4 KiB RoCE packets; vendors size XOFF from the buffer left per port (160 MB over 128 ports "
              "leaves 1.25 MB each), this keeps the shared pool far from full even when every port pauses")
XON_GAP = Figure(8 * KiB, assumption="resume (XON) two MTU-sized frames below XOFF, as a hysteresis that stops a "
                 "port from pausing and resuming on every packet")
HEADROOM = Figure(48 * KiB, source="PFC headroom must hold what arrives after XOFF: two cable delays at line rate, "
                  "one maximum frame at each end and the responder's reaction time (IEEE 802.1Qbb annex N; NVIDIA's "
                  "'Understanding PFC headroom' formula); 400 Gb/s over 50 ns needs about 25 KiB, 48 KiB leaves room "
                  "for 100 m of fibre")
_ROCE_MODE = ("NVIDIA Spectrum switches in RoCE lossless mode mark ECN on the RoCE traffic class from 150 KB "
              "to 1500 KB (Onyx 'roce lossless', show roce: 'Port congestion-control: Mode: ecn, absolute, Min: 150, "
              "Max: 1500', https://docs.nvidia.com/networking/display/onyxv3103004/roce+commands); the DCQCN "
              "paper's 5 KB and 200 KB (section 5) were set for 40 Gb/s and a shallower buffer")
KMIN = Figure(150_000, source=_ROCE_MODE)
KMAX = Figure(1_500_000, source=_ROCE_MODE)
PMAX = Figure(0.01, source="DCQCN, Zhu et al., SIGCOMM 2015, section 5: Pmax = 1% (NVIDIA's RoCE mode pages give "
              "the thresholds, not the probability)")


@dataclass(frozen=True)
class BufferConfig:
    """A switch's shared packet buffer (bytes) and the dynamic threshold of each egress queue."""

    total_bytes: int = int(SHARED_BUFFER.value)
    alpha: float = float(ALPHA.value)


@dataclass(frozen=True)
class PfcConfig:
    """Priority flow control per ingress port and priority: pause the upstream above
    ``xoff_bytes``, resume below ``xon_bytes``; ``headroom_bytes`` more may arrive meanwhile
    (beyond them a frame is dropped: a headroom too small for the link is a misconfiguration)."""

    enabled: bool = True
    xoff_bytes: int = int(XOFF.value)
    xon_bytes: int = int(XOFF.value - XON_GAP.value)
    headroom_bytes: int = int(HEADROOM.value)
    priorities: frozenset[int] = frozenset(range(8))  # the lossless priorities


@dataclass(frozen=True)
class EcnConfig:
    """RED-style ECN marking on the egress queue: none below ``kmin_bytes``, every packet above
    ``kmax_bytes``, a probability rising linearly to ``pmax`` between."""

    enabled: bool = True
    kmin_bytes: int = int(KMIN.value)
    kmax_bytes: int = int(KMAX.value)
    pmax: float = float(PMAX.value)

    def probability(self, queue_bytes: int) -> float:
        if not self.enabled or queue_bytes <= self.kmin_bytes:
            return 0.0
        if queue_bytes > self.kmax_bytes:
            return 1.0
        return self.pmax * (queue_bytes - self.kmin_bytes) / max(1, self.kmax_bytes - self.kmin_bytes)


@dataclass(frozen=True)
class EthernetBuffering:
    """Everything an Ethernet switch's buffer does."""

    buffer: BufferConfig = field(default_factory=BufferConfig)
    pfc: PfcConfig = field(default_factory=PfcConfig)
    ecn: EcnConfig = field(default_factory=EcnConfig)
    ecmp: str = "hash"  # "hash" (5-tuple, per flow) or "spray" (per packet), oisa.fabric.ecmp
    where: str = "pfc.headroom"  # the key and file a refusal of the headroom names
    source: str | None = None


# DCQCN's reaction point and notification point as ConnectX NICs ship them (the defaults below),
# which is how RoCE fabrics run it; the published algorithm of Zhu et al. ("Congestion Control for
# Large-Scale RDMA Deployments", SIGCOMM 2015, figure 7 and section 5) set for 40 Gb/s is
# :data:`DCQCN_PAPER`. The NIC's firmware differs from the paper in how it times things (NVIDIA's
# "DCQCN CC Parameters" page, https://networking-docs.nvidia.com/doca/archive/3-4-0/dcqcn-cc-parameters;
# the HPCC authors' ns-3 model of it, alibaba-edu/High-Precision-Congestion-Control,
# simulation/src/point-to-point/model/rdma-hw.cc, "Mellanox's version of DCQCN"): a CNP cuts
# at most once per rate_reduce_monitor_period; alpha is updated once per dce_tcp_rtt, up if a CNP
# came in that period and down if none did; and the target rate takes the current rate on a cut
# only if the rate has been raised since the last cut (clamp_tgt_rate = 0,
# clamp_tgt_rate_after_time_inc = 1), so a burst of CNPs does not ratchet the target down.
_CX = ("ConnectX factory default, as mlxconfig reports it on a ConnectX-5 (MCX516A-CDA, firmware 16.27; "
       "xdp-newbies@vger.kernel.org, 22 June 2020, 'Re: CQ error on CQN 0x43e'), the same as NVIDIA's DCQCN "
       "CC parameters page")
CNP_INTERVAL = Figure(4 * US, source="min_time_between_cnps = 4 us, NVIDIA's default as listed by Peng et al., "
                      "'Barre', USENIX ATC 2025, table 2 (ConnectX-5 firmware 16.27 reports 2 us)")
ALPHA_GAIN = Figure(5 / 1024, source=f"dce_tcp_g = 1019: alpha keeps 1019/1024 of itself per period; {_CX}")
ALPHA_TIMER = Figure(1 * US, source=f"dce_tcp_rtt = 1 us, alpha's update period; {_CX}")
RATE_TIMER = Figure(300 * US, source=f"rpg_time_reset = 300 us; {_CX}")
BYTE_COUNTER = Figure(32767, source=f"rpg_byte_reset = 32767 bytes (mstflint: 'given in bytes'); {_CX}")
FAST_RECOVERY = Figure(1, source=f"rpg_threshold = 1; {_CX}")
RATE_AI = Figure(5_000_000, source=f"rpg_ai_rate = 5 Mb/s; {_CX}")
RATE_HAI = Figure(50_000_000, source=f"rpg_hai_rate = 50 Mb/s; {_CX}")
MIN_RATE = Figure(1_000_000, source=f"rpg_min_rate = 1 Mb/s; {_CX}")
RATE_DECREASE_INTERVAL = Figure(4 * US, source=f"rate_reduce_monitor_period = 4 us; {_CX}")
MIN_DEC_FACTOR = Figure(0.5, source=f"rpg_min_dec_fac = 50 %: one cut keeps at least half the rate; {_CX}")
RETRANSMIT_TIMEOUT = Figure(131 * US, assumption="go-back-N's retransmission timeout, when no NAK comes (the lost "
                            "packet was a flow's last): InfiniBand's local ACK timeout is 4.096 us x 2^n; n = 5 "
                            "(131 us) keeps tail losses short in virtual time, where NICs often run n = 14 (67 ms)")


@dataclass(frozen=True)
class DcqcnConfig:
    """A NIC's DCQCN (``enabled``) and its retransmission timeout for go-back-N (with PFC off).

    ``clamp_target_always``: the paper's cut, where the target always takes the current rate;
    off, as ConnectX NICs ship, only when an increase event has raised the rate since the last cut.
    ``rate_decrease_interval_ps``: at most one cut per interval (0: one per CNP, the paper)."""

    enabled: bool = True
    cnp_interval_ps: int = int(CNP_INTERVAL.value)
    g: float = float(ALPHA_GAIN.value)
    alpha_timer_ps: int = int(ALPHA_TIMER.value)
    rate_timer_ps: int = int(RATE_TIMER.value)
    byte_counter: int = int(BYTE_COUNTER.value)
    fast_recovery: int = int(FAST_RECOVERY.value)
    rate_ai_bps: int = int(RATE_AI.value)
    rate_hai_bps: int = int(RATE_HAI.value)
    min_rate_bps: int = int(MIN_RATE.value)
    retransmit_timeout_ps: int = int(RETRANSMIT_TIMEOUT.value)
    rate_decrease_interval_ps: int = int(RATE_DECREASE_INTERVAL.value)
    clamp_target_always: bool = False
    min_dec_factor: float = float(MIN_DEC_FACTOR.value)


# The published algorithm's parameters (Zhu et al., SIGCOMM 2015), chosen for 40 Gb/s links: the
# NP sends at most one CNP per flow per N = 50 us (section 3.2); g = 1/256, alpha's timer K = 55 us,
# the rate timer T = 55 us, the byte counter B = 10 MB, R_AI = 40 Mb/s (section 5); F = 5 (section
# 3.3); R_HAI = 200 Mb/s and the 100 Mb/s floor from the authors' ns-3 code (the paper leaves them
# to the implementation). Every CNP cuts (CNPs are 50 us apart) and always clamps the target.
DCQCN_PAPER = DcqcnConfig(cnp_interval_ps=50 * US, g=1 / 256, alpha_timer_ps=55 * US, rate_timer_ps=55 * US,
                          byte_counter=10 * MiB, fast_recovery=5, rate_ai_bps=40_000_000, rate_hai_bps=200_000_000,
                          min_rate_bps=100_000_000, rate_decrease_interval_ps=0, clamp_target_always=True)


DEFAULT_DCQCN = DcqcnConfig()


def pfc_headroom_floor(rate_bps: int, latency_ps: int, max_frame_bytes: int) -> int:
    """The least headroom that can work on a link: what arrives during one round trip of the
    link at line rate, plus the frame already on the wire when the pause lands."""
    return -(-2 * latency_ps * rate_bps // (8 * 10**12)) + max_frame_bytes
