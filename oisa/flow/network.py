"""A fabric as the flow engine sees it: resources with capacities, what each kind of message
costs on them, and transfers turned into weighted flows with their latencies.

A transfer moves payload; what it puts on a link is more than that. A card writes in requests
of its adapter's size (256-byte PCIe writes for a PCIe-native card, 4 KiB DMA writes for
others), each with a header, packed into flits on OISA links, cut into TLPs on PCIe and into
RoCEv2 packets on Ethernet; a read sends small requests one way and completions the other; a
write that expects completions gets them back. The wire bytes per payload byte of each kind
of message on each kind of link come from the framing functions the frame-level engines use
(:mod:`oisa.fabric.framing`), so the line code, flit, TLP and packet overheads fold into the
rates exactly as they cost there.

A flow's weight on a resource is the share of its bytes the route sends over it times that
cost. Its latency is what the frame engines' pipelining adds to the bytes' time at the
bottleneck: every link's propagation, every switch's and NIC's port-to-port time, and the head
of the first frame each forwarding node must take in before it forwards (a whole frame where it
stores and forwards). A transfer a card confirms (a flushed posted write, or writes answered by
completions) ends when the answer of its last bytes is back, a small message's trip the other
way; a read starts moving data once its first request has arrived.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oisa.device.adapter import TransferPlan
from oisa.device.profile import DeviceProfile
from oisa.device.registry import adapter as registered_adapter
from oisa.device.timing import answer_segment
from oisa.errors import SimulationError
from oisa.fabric.framing import head_bytes
from oisa.fabric.routes import Framing, Hop, RouteProvider, Spread, routes_of, spread_of
from oisa.fabric.spec import FabricSpec
from oisa.flow.pfc import PauseCoupling
from oisa.units import S
from oisa.wire.oisa import OPCODES, CollDtype, CollExt, CollOp, Message, Opcode

__all__ = ["CardModel", "FlowBatch", "Network", "Shape"]

_STREAM = 4096  # messages in a stream whose framing gives a message kind's cost per byte
_REDUCE_MESSAGE_BYTES = 4096  # the most one in-switch contribution (COLL_REDUCE) carries, as cards send them
_FLUSH_BYTES = 4  # what a flush read asks for: its answer is the small message that confirms a posted write


@dataclass(frozen=True)
class Shape:
    """A kind of message: ``opcode``, each ``length`` bytes long (its length field), standing for
    ``data`` bytes of the transfer (a request of a read stands for what it asks)."""

    opcode: Opcode
    length: int
    data: float
    coll: bool = False

    def message(self, count: int) -> Message:
        coll = CollExt(0, 2, CollOp.SUM, CollDtype.FLOAT32) if self.coll else None
        return Message(self.opcode, 0, 1, length=self.length, count=count, coll=coll)


@dataclass(frozen=True)
class CardModel:
    """What the flow engine needs of a card: its writes and reads as message shapes, what
    answers them, how many transfers run at once and how much may be outstanding, and the
    rates of its memory and compute."""

    write: Shape
    write_spread: Spread
    write_answer: Shape | None  # completions of non-posted writes (None: posted, flushed)
    read: Shape
    read_spread: Spread
    max_payload: int  # the most a completion from this card carries
    tags: int  # requests that may be outstanding: with the request size, what a window holds
    dma_engines: int
    memory_bps: int
    compute: dict[str, int]


def _card_model(profile: DeviceProfile) -> CardModel:
    plan: TransferPlan = registered_adapter(profile.adapter).cls(0, profile).transfer_plan()
    per_write = min(plan.max_write, int(profile.max_payload.value))
    per_read = min(plan.max_read, int(profile.max_read_request.value))
    write = Shape(plan.write, per_write, per_write)
    answer = None
    if OPCODES[plan.write].expects_completion:
        reply = answer_segment(Message(plan.write, 0, 1, length=per_write), 1, per_write)
        assert reply is not None
        answer = Shape(Opcode(reply.opcode), reply.length, per_write / reply.count)
    return CardModel(write=write, write_spread=spread_of(plan.write, plan.relaxed), write_answer=answer,
                     read=Shape(plan.read, per_read, per_read), read_spread=spread_of(plan.read, False),
                     max_payload=int(profile.max_payload.value),
                     tags=int(profile.tags.value),
                     dma_engines=int(profile.dma_engines.value), memory_bps=int(profile.memory_bandwidth.value),
                     compute={dtype: int(rate.value) for dtype, rate in profile.compute.items()})


@dataclass
class FlowBatch:
    """Flows ready for the fluid: entries (``flow``, ``resource``, ``weight``: wire bytes on the
    resource per payload byte), and per flow the latency from its last byte leaving to its last
    byte landing (``landing_ps``), the trip of the answer that confirms it (``answer_ps``), its
    own rate cap (bytes per ps; inf where none), and per payload byte the frames and messages
    it puts on the wire (``frames``, ``messages``; its wire bytes are the sum of its weights)."""

    flow: np.ndarray
    resource: np.ndarray
    weight: np.ndarray
    landing_ps: np.ndarray
    answer_ps: np.ndarray
    cap: np.ndarray
    frames: np.ndarray
    messages: np.ndarray

    def __len__(self) -> int:
        return len(self.landing_ps)


class Network:
    """One fabric's resources, costs and routes for a run seeded with ``seed``; ``pauses``
    couples flows as PFC's pauses do where the fabric has lossless switches."""

    def __init__(self, spec: FabricSpec, seed: int, *, pauses: bool = True) -> None:
        self.spec = spec
        self.seed = seed
        self.routes: RouteProvider = routes_of(spec)
        self.card_ids = frozenset(card.id for card in spec.cards)
        self._card_array = np.array(sorted(self.card_ids), dtype=np.int64)
        # Resources: the routes' links (and their aggregates), then each reducing switch's
        # reduction units, whose rate bounds the contributions they combine.
        reducing = [switch for switch in spec.switches if switch.reduction and switch.reduction_rate is not None]
        self.links = len(self.routes.capacity_bps)  # resources below this are links (or groups of links)
        self.reducer = {switch.id: self.links + index for index, switch in enumerate(reducing)}
        units = np.array([int(switch.reduction_rate.value) for switch in reducing if switch.reduction_rate], float)
        self.capacity = np.concatenate([self.routes.capacity_bps, units]) / (8 * S)  # bytes per ps
        self.tail = np.full(len(self.capacity), -1, dtype=np.int64)  # the node each resource leaves from
        ends = np.array([(link.a, link.b) for link in spec.links], dtype=np.int64).reshape(-1, 2)
        self.tail[:2 * len(spec.links)] = ends.ravel()
        self.pauses = self._pause_coupling(ends) if pauses else None
        self._shapes: dict[Shape, int] = {}
        self._costs = np.zeros((len(self.routes.framings), 0))
        self._frame_costs = np.zeros((len(self.routes.framings), 0))
        self._latency: dict[tuple[int, Shape, str], float] = {}
        self._by_profile: dict[int, CardModel] = {}  # profiles by identity: the spec keeps them alive
        ids = [card.id for card in spec.cards]
        self.memory_bps = np.zeros(max(ids) + 1)  # each card's memory rate, by card id (0 for no card)
        for card in spec.cards:
            self.memory_bps[card.id] = self._model(card.device).memory_bps

    def _pause_coupling(self, ends: np.ndarray) -> PauseCoupling | None:
        """Where PFC pauses start and climb (:mod:`oisa.flow.pfc`), or None on a fabric without a
        switch whose PFC covers traffic class 0, the class the flow engine's flows travel in."""
        lossless_ids = [switch.id for switch in self.spec.switches if switch.buffering is not None
                        and switch.buffering.pfc.enabled and 0 in switch.buffering.pfc.priorities]
        if not lossless_ids:
            return None
        head = np.full(len(self.capacity), -1, dtype=np.int64)
        head[:2 * len(ends)] = ends[:, ::-1].ravel()
        lossless = np.zeros(int(max(ends.max(), max(lossless_ids))) + 1, dtype=bool)
        lossless[lossless_ids] = True
        pausing = (self.tail >= 0) & lossless[np.maximum(self.tail, 0)]
        return PauseCoupling(self.tail, head, pausing, lossless)

    def card(self, rank: int) -> CardModel:
        return self._model(self.spec.card(rank).device)

    def _model(self, profile: DeviceProfile) -> CardModel:
        model = self._by_profile.get(id(profile))
        if model is None:
            model = self._by_profile[id(profile)] = _card_model(profile)
        return model

    def models(self, ranks: np.ndarray) -> tuple[list[CardModel], np.ndarray]:
        """The distinct models of ``ranks``' cards, and which each rank has."""
        profiles: dict[int, int] = {}
        which = np.empty(len(ranks), dtype=np.int64)
        devices: list[DeviceProfile] = []
        card = self.spec.card
        for position, rank in enumerate(ranks.tolist()):
            device = card(rank).device
            index = profiles.get(id(device))
            if index is None:
                index = profiles[id(device)] = len(devices)
                devices.append(device)
            which[position] = index
        return [self._model(device) for device in devices], which

    # -- transfers as flows ---------------------------------------------------------------------------

    def writes(self, src: np.ndarray, dst: np.ndarray, pinned: np.ndarray | int = -1) -> FlowBatch:
        """Card ``src[i]`` writes to card ``dst[i]`` (pinned to a channel where ``pinned[i]`` >= 0)."""
        src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
        pinned = np.broadcast_to(np.asarray(pinned, dtype=np.int64), len(src))
        models, which = self.models(src)
        parts = []
        for index, model in enumerate(models):
            rows = np.flatnonzero(which == index)
            answer = model.write_answer
            parts.append((rows, self._flows(src[rows], dst[rows], pinned[rows], model, model.write, model.write_spread,
                                            answer, flush=answer is None, read=False)))
        return _merged(parts, len(src))

    def transfers(self, src: np.ndarray, dst: np.ndarray, pinned: np.ndarray | int = -1) -> FlowBatch:
        """A phase's flows: writes between cards (:meth:`writes`), and the flows of an in-switch
        reduction, from a card to the switch that reduces or from the switch to a card
        (:meth:`offloads`)."""
        src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
        pinned = np.broadcast_to(np.asarray(pinned, dtype=np.int64), len(src))
        switched = ~(self._is_card(src) & self._is_card(dst))
        if not switched.any():
            return self.writes(src, dst, pinned)
        cards, offloaded = np.flatnonzero(~switched), np.flatnonzero(switched)
        parts = [(offloaded, self.offloads(src[offloaded], dst[offloaded]))]
        if len(cards):
            parts.append((cards, self.writes(src[cards], dst[cards], pinned[cards])))
        return _merged(parts, len(src))

    def offloads(self, src: np.ndarray, dst: np.ndarray) -> FlowBatch:
        """Flows of in-switch reductions: a card's contributions (``COLL_REDUCE`` messages,
        sprayed, through the switch's reduction units) to the switch ``dst[i]``, or the results
        the switch ``src[i]`` writes to a card (hashed). A result moves as its chunks are
        reduced, so its bytes land after the contributions' trip to its switch as well as its
        own (as :meth:`contributions` counts one reduction)."""
        src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
        count = len(src)
        up = self._is_card(src)
        if (self._is_card(dst) == up).any():
            wrong = int(np.flatnonzero(self._is_card(dst) == up)[0])
            raise SimulationError(f"a flow of an in-switch reduction joins a card and a switch; "
                                  f"{int(src[wrong])} -> {int(dst[wrong])} does not")
        piece = _REDUCE_MESSAGE_BYTES
        shapes = {True: Shape(Opcode.COLL_REDUCE, piece, piece, coll=True), False: Shape(Opcode.MEM_WR, piece, piece)}
        flows, resources, weights = [], [], []
        landing, frames = np.zeros(count), np.zeros(count)
        for upward in (True, False):
            rows = np.flatnonzero(up == upward)
            if not len(rows):
                continue
            shape = shapes[upward]
            routed = self.routes.routes(src[rows], dst[rows], Spread.SPRAY if upward else Spread.HASH, -1, self.seed)
            wire, per_byte = self._cost(routed.resource, shape)
            flows.append(rows[routed.flow])
            resources.append(routed.resource)
            weights.append(routed.share * wire)
            frames[rows] = np.bincount(routed.flow, routed.share * per_byte, minlength=len(rows))
            landing[rows] = self._latencies(routed.path, shape, "landing")
            if upward:  # every byte contributed passes the switch's reduction units once
                switches = dst[rows]
                units = np.array([self.reducer.get(int(s), -1) for s in switches.tolist()], dtype=np.int64)
                reduced = units >= 0
                flows.append(rows[reduced])
                resources.append(units[reduced])
                weights.append(np.ones(int(reduced.sum())))
        switch = np.where(up, dst, src)
        towards = np.zeros(int(switch.max()) + 1)
        np.maximum.at(towards, switch[up], landing[up])
        landing[~up] += towards[switch[~up]]
        return FlowBatch(np.concatenate(flows), np.concatenate(resources), np.concatenate(weights), landing,
                         np.zeros(count), np.full(count, np.inf), frames, np.full(count, 1 / piece))

    def _is_card(self, nodes: np.ndarray) -> np.ndarray:
        return np.isin(nodes, self._card_array)

    def reads(self, src: np.ndarray, dst: np.ndarray, pinned: np.ndarray | int = -1) -> tuple[FlowBatch, FlowBatch]:
        """Card ``src[i]`` reads from card ``dst[i]``: the flows of its first requests, which
        land when the first of them arrives (the data starts then), and the flows of the data
        coming back, which carry the rest of the requests along the way out."""
        src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
        pinned = np.broadcast_to(np.asarray(pinned, dtype=np.int64), len(src))
        models, which = self.models(src)
        requests, data = [], []
        for index, model in enumerate(models):
            rows = np.flatnonzero(which == index)
            peers, peer_of = self.models(dst[rows])
            for peer_index, peer in enumerate(peers):
                sub = rows[peer_of == peer_index]
                reply = answer_segment(Message(model.read.opcode, 0, 1, length=model.read.length), 1, peer.max_payload)
                assert reply is not None
                answer = Shape(Opcode(reply.opcode), reply.length, model.read.length / reply.count)
                asked = self._flows(src[sub], dst[sub], pinned[sub], model, model.read, model.read_spread, None,
                                    flush=False, read=True)
                came = self._flows(dst[sub], src[sub], np.full(len(sub), -1), model, answer, Spread.SPRAY, None,
                                   flush=False, read=True)
                came = _joined(came, asked)
                # the requester's tags bound what may be outstanding over a round trip
                came.cap = model.tags * model.read.length / np.maximum(came.landing_ps + asked.landing_ps, 1.0)
                requests.append((sub, asked))
                data.append((sub, came))
        return _merged(requests, len(src)), _merged(data, len(src))

    def contributions(self, members: np.ndarray, switch: int, size: int) -> FlowBatch:
        """One flow standing for an in-switch reduction: every member's contribution up to
        ``switch``, through its reduction units (which combine every member's bytes), and the
        result down to every member, all at the pace of the slowest (the switch reduces chunk by
        chunk as the chunks of every member are in)."""
        members = np.asarray(members, dtype=np.int64)
        count = len(members)
        piece = min(_REDUCE_MESSAGE_BYTES, size)
        up = Shape(Opcode.COLL_REDUCE, piece, piece, coll=True)
        down = Shape(Opcode.MEM_WR, piece, piece)
        towards = self.routes.routes(members, np.full(count, switch), Spread.SPRAY, -1, self.seed)
        back = self.routes.routes(np.full(count, switch), members, Spread.HASH, -1, self.seed)
        units = [self.reducer[switch]] if switch in self.reducer else []
        resource = np.concatenate([towards.resource, back.resource, np.array(units, dtype=np.int64)])
        up_wire, up_frames = self._cost(towards.resource, up)
        down_wire, down_frames = self._cost(back.resource, down)
        weight = np.concatenate([towards.share * up_wire, back.share * down_wire, np.full(len(units), float(count))])
        frames = float(np.dot(towards.share, up_frames) + np.dot(back.share, down_frames))
        up_ps = max(self._landing(int(p), up) for p in np.unique(towards.path))
        down_ps = max(self._landing(int(p), down) for p in np.unique(back.path))
        return FlowBatch(np.zeros(len(resource), np.int64), resource, weight, np.array([up_ps + down_ps]),
                         np.zeros(1), np.array([np.inf]), np.array([frames]),
                         np.array([2 * count / piece]))

    def _flows(self, src: np.ndarray, dst: np.ndarray, pinned: np.ndarray, model: CardModel, shape: Shape,
               spread: Spread, answer: Shape | None, *, flush: bool, read: bool) -> FlowBatch:
        """Flows of ``shape`` from ``src`` to ``dst`` and, if given, ``answer`` messages back.
        A read's parts (``read``: its requests, or its data) land when their first message
        does, or their last byte; a write is confirmed by ``answer`` or, with ``flush``, by the
        answer of a flush read."""
        count = len(src)
        out = self.routes.routes(src, dst, spread, pinned, self.seed)
        wire, frames = self._cost(out.resource, shape)
        flows, resources, weights = [out.flow], [out.resource], [out.share * wire]
        frames_per_byte = np.bincount(out.flow, out.share * frames, minlength=count)
        messages = np.full(count, 1 / shape.data)
        answered = np.zeros(count)
        cap = np.full(count, np.inf)
        if read:
            requests = shape.opcode is model.read.opcode and shape.length == model.read.length
            landing = self._latencies(out.path, shape, "message" if requests else "landing")
            return FlowBatch(out.flow, out.resource, weights[0], landing, answered, cap, frames_per_byte, messages)
        back = self.routes.routes(dst, src, Spread.SPRAY, -1, self.seed)
        if answer is not None:
            wire, frames = self._cost(back.resource, answer)
            flows.append(back.flow)
            resources.append(back.resource)
            weights.append(back.share * wire)
            frames_per_byte += np.bincount(back.flow, back.share * frames, minlength=count)
            messages += 1 / answer.data
        confirm = Shape(Opcode.CPL_D, _FLUSH_BYTES, _FLUSH_BYTES) if flush else answer
        assert confirm is not None
        landing = self._latencies(out.path, shape, "landing")
        answered = self._latencies(back.path, confirm, "message")
        if answer is not None:  # the writer's tags bound what may be outstanding over a round trip
            cap = model.tags * shape.length / np.maximum(landing + answered, 1.0)
        return FlowBatch(np.concatenate(flows), np.concatenate(resources), np.concatenate(weights), landing, answered,
                         cap, frames_per_byte, messages)

    # -- costs and latencies --------------------------------------------------------------------------

    def _cost(self, resources: np.ndarray, shape: Shape) -> tuple[np.ndarray, np.ndarray]:
        """Wire bytes and frames per data byte of ``shape`` on each of ``resources``."""
        column = self._shapes.get(shape)
        if column is None:
            column = self._shapes[shape] = len(self._shapes)
            costs = np.array([framing.frames(shape.message(_STREAM)) for framing in self.routes.framings],
                             dtype=np.float64) / (_STREAM * shape.data)
            self._costs = np.concatenate([self._costs, costs[:, 1:2]], axis=1)
            self._frame_costs = np.concatenate([self._frame_costs, costs[:, 0:1]], axis=1)
        framing = self.routes.framing[resources]
        return self._costs[framing, column], self._frame_costs[framing, column]

    def _latencies(self, paths: np.ndarray, shape: Shape, kind: str) -> np.ndarray:
        unique, inverse = np.unique(paths, return_inverse=True)
        values = np.array([self._path_latency(int(p), shape, kind) for p in unique])
        return values[inverse] if len(values) else np.zeros(0)

    def _path_latency(self, path: int, shape: Shape, kind: str) -> float:
        key = (path, shape, kind)
        found = self._latency.get(key)
        if found is None:
            hops = self.routes.paths[path]
            found = self._latency[key] = (self._landing(path, shape) if kind == "landing"
                                          else _message_latency(self.routes.framings, hops, shape))
        return found

    def _landing(self, path: int, shape: Shape) -> float:
        return _landing_latency(self.routes.framings, self.routes.paths[path], shape)


def _serialise(size: float, rate_bps: int) -> float:
    return size * 8 * S / rate_bps


def _head(framing: Framing, hop: Hop, shape: Shape) -> float:
    """What a forwarding node must take in before it forwards: the head of the first frame if it
    cuts through, else the whole first frame, at the link's rate."""
    frames, wire = framing.frames(shape.message(1))
    first = -(-wire // frames)
    taken = min(first, head_bytes(framing.kind, framing.flit_size)) if hop.cut_through else first
    return _serialise(taken, hop.rate_bps)


def _landing_latency(framings: list[Framing], hops: tuple[Hop, ...], shape: Shape) -> float:
    """From the last byte leaving at the bottleneck's pace to its landing: propagation, the
    nodes' port-to-port times, and the heads forwarding nodes wait for."""
    total = 0.0
    for hop in hops:
        total += hop.latency_ps + hop.node_latency_ps
        if hop.forwards:
            total += _head(framings[hop.framing], hop, shape)
    return total


def _message_latency(framings: list[Framing], hops: tuple[Hop, ...], shape: Shape) -> float:
    """One small message end to end: the landing latency and its own last serialisation."""
    if not hops:
        return 0.0
    last = hops[-1]
    _, wire = framings[last.framing].frames(shape.message(1))
    return _landing_latency(framings, hops, shape) + _serialise(wire, last.rate_bps)


def _joined(batch: FlowBatch, riders: FlowBatch) -> FlowBatch:
    """``batch`` whose flows also carry ``riders``' entries (and frames and messages), flow for flow."""
    return FlowBatch(np.concatenate([batch.flow, riders.flow]), np.concatenate([batch.resource, riders.resource]),
                     np.concatenate([batch.weight, riders.weight]), batch.landing_ps, batch.answer_ps, batch.cap,
                     batch.frames + riders.frames, batch.messages + riders.messages)


def _merged(parts: list[tuple[np.ndarray, FlowBatch]], count: int) -> FlowBatch:
    """Batches for subsets ``rows`` of ``count`` flows, as one batch in the original order."""
    if len(parts) == 1 and len(parts[0][0]) == count:
        return parts[0][1]
    landing, answer, cap, frames, messages = (np.zeros(count) for _ in range(5))
    flows, resources, weights = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    for rows, batch in parts:
        flows.append(rows[batch.flow])
        resources.append(batch.resource)
        weights.append(batch.weight)
        landing[rows], answer[rows], cap[rows] = batch.landing_ps, batch.answer_ps, batch.cap
        frames[rows], messages[rows] = batch.frames, batch.messages
    return FlowBatch(np.concatenate(flows), np.concatenate(resources), np.concatenate(weights), landing, answer, cap,
                     frames, messages)
