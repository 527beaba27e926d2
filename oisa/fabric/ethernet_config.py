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

__all__ = ["DEFAULT_DCQCN", "BufferConfig", "DcqcnConfig", "EcnConfig", "EthernetBuffering", "PfcConfig",
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
KMIN = Figure(5 * KiB, source="DCQCN, Zhu et al., SIGCOMM 2015, section 5 (parameters): Kmin = 5 KB")
KMAX = Figure(200 * KiB, source="DCQCN, Zhu et al., SIGCOMM 2015, section 5: Kmax = 200 KB")
PMAX = Figure(0.01, source="DCQCN, Zhu et al., SIGCOMM 2015, section 5: Pmax = 1%")


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


# DCQCN's reaction point and notification point (Zhu et al., "Congestion Control for Large-Scale
# RDMA Deployments", SIGCOMM 2015, figure 7 and section 5; the authors' ns-3 code gives the same).
CNP_INTERVAL = Figure(50 * US, source="DCQCN section 3.2: the NP sends at most one CNP per flow every N = 50 us")
ALPHA_GAIN = Figure(1 / 256, source="DCQCN section 5: g = 1/256")
ALPHA_TIMER = Figure(55 * US, source="DCQCN section 3.3 and 5: alpha is updated every K = 55 us without a CNP")
RATE_TIMER = Figure(55 * US, source="DCQCN section 5: the rate-increase timer T = 55 us")
BYTE_COUNTER = Figure(10 * MiB, source="DCQCN section 5: byte counter B = 10 MB")
FAST_RECOVERY = Figure(5, source="DCQCN section 3.3: F = 5 rounds of fast recovery")
RATE_AI = Figure(40_000_000, source="DCQCN section 5: additive increase R_AI = 40 Mb/s")
RATE_HAI = Figure(200_000_000, source="the DCQCN authors' ns-3 code (RATE_HAI 200Mb/s), as the paper leaves "
                  "hyper increase's step to the implementation")
MIN_RATE = Figure(100_000_000, source="the DCQCN authors' ns-3 code: MIN_RATE 100Mb/s")
RETRANSMIT_TIMEOUT = Figure(131 * US, assumption="go-back-N's retransmission timeout, when no NAK comes (the lost "
                            "packet was a flow's last): InfiniBand's local ACK timeout is 4.096 us x 2^n; n = 5 "
                            "(131 us) keeps tail losses short in virtual time, where NICs often run n = 14 (67 ms)")


@dataclass(frozen=True)
class DcqcnConfig:
    """A NIC's DCQCN (``enabled``) and its retransmission timeout for go-back-N (with PFC off)."""

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


DEFAULT_DCQCN = DcqcnConfig()


def pfc_headroom_floor(rate_bps: int, latency_ps: int, max_frame_bytes: int) -> int:
    """The least headroom that can work on a link: what arrives during one round trip of the
    link at line rate, plus the frame already on the wire when the pause lands."""
    return -(-2 * latency_ps * rate_bps // (8 * 10**12)) + max_frame_bytes
