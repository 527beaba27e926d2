"""Chakra execution traces in and out: MLCommons' format for what each rank of a job does.

A trace is one file per rank, ``NAME.RANK.et``: a length-delimited protobuf stream (each
message after a varint of its length), first a ``GlobalMetadata``, then one ``Node`` per
operation, as Chakra's own tools write it (``chakra/src/third_party/utils/protolib.py`` in
github.com/mlcommons/chakra). Its JSON form (``NAME.RANK.json``) is what Chakra's jsonizer writes:
the same messages in protobuf's JSON mapping, one object after another. The schema is
``chakra.proto`` beside this module (schema 0.0.4 and the current one: see its header).

How Chakra's nodes read here (the attribute names are those Chakra's PyTorch converter writes
and ASTRA-sim's feeder reads):

========================  =====================================================================
``COMP_NODE``             ``num_ops`` FLOPs and ``tensor_size`` bytes, or ``duration_micros``;
                          ``is_cpu_op``: on the host
``COMM_COLL_NODE``        ``comm_type`` (``CollectiveCommType``), ``comm_size`` bytes, ``pg_name``
``COMM_SEND_NODE``        ``comm_dst``, ``comm_size``, ``comm_tag``
``COMM_RECV_NODE``        ``comm_src``, ``comm_size``, ``comm_tag``
``MEM_LOAD_NODE`` /       ``tensor_size`` bytes; oisa's own ``mem_location`` (local, peer, host,
``MEM_STORE_NODE``        pool) and ``mem_peer`` (the rank, for a peer)
``METADATA_NODE``         costs nothing
========================  =====================================================================

Process groups: the metadata attribute ``pg_ranks`` (oisa's, JSON text: group name to ranks)
or, failing that, ``NAME.comm_groups.json`` beside the traces, in the form ASTRA-sim's
``--comm-group-configuration`` takes (``{"1": [0, 1, 2, 3]}``); a collective without
``pg_name`` runs over every rank. Writing gives both. Anything else is one
:class:`~oisa.errors.ConfigError` naming the file, the node and the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from google.protobuf.json_format import MessageToJson, Parse, ParseError
from google.protobuf.message import DecodeError, Message

from oisa.errors import ConfigError
from oisa.graph.model import WORLD, ExecutionGraph, Kind, Node, RankGraph, Where
from oisa.graph.protoschema import load_schema

__all__ = ["FORMS", "SCHEMA", "VERSION", "decode_rank", "encode_rank", "read_graph", "write_graph"]

SCHEMA = load_schema(Path(__file__).with_name("chakra.proto"))
VERSION = "0.0.4"  # what oisa writes: the schema version Chakra's converter still stamps its traces with
FORMS = ("et", "json")
_NodeMessage = SCHEMA.messages["Node"]
_Metadata = SCHEMA.messages["GlobalMetadata"]
_TYPES = SCHEMA.enums["NodeType"]
_COMM = SCHEMA.enums["CollectiveCommType"]
_KIND_OF_TYPE = {_TYPES["COMP_NODE"]: Kind.COMPUTE, _TYPES["COMM_COLL_NODE"]: Kind.COLLECTIVE,
                 _TYPES["COMM_SEND_NODE"]: Kind.SEND, _TYPES["COMM_RECV_NODE"]: Kind.RECV,
                 _TYPES["MEM_LOAD_NODE"]: Kind.LOAD, _TYPES["MEM_STORE_NODE"]: Kind.STORE,
                 _TYPES["METADATA_NODE"]: Kind.MARKER}
_TYPE_OF_KIND = {kind: number for number, kind in _KIND_OF_TYPE.items()}
_COLLECTIVE_OF = {_COMM["ALL_REDUCE"]: "allreduce", _COMM["ALL_GATHER"]: "allgather",
                  _COMM["REDUCE_SCATTER"]: "reducescatter", _COMM["ALL_TO_ALL"]: "alltoall",
                  _COMM["BROADCAST"]: "broadcast", _COMM["REDUCE"]: "reduce", _COMM["BARRIER"]: "barrier"}
_COMM_OF = {name: number for number, name in _COLLECTIVE_OF.items()}
_TYPE_NAMES = {number: name for name, number in _TYPES.items()}
_COMM_NAMES = {number: name for name, number in _COMM.items()}
_INTEGER_VALUES = ("int64_val", "int32_val", "uint64_val", "uint32_val", "sint64_val", "sint32_val", "fixed64_val",
                   "fixed32_val", "sfixed64_val", "sfixed32_val")
_FILE = re.compile(r"^(?P<name>.+)\.(?P<rank>\d+)\.(?P<form>et|json)$")
_PS_PER_MICROSECOND = 1_000_000


# -- reading ---------------------------------------------------------------------------------------------


def read_graph(path: str | Path) -> ExecutionGraph:
    """The graph of the traces at ``path``: a directory of ``NAME.RANK.et`` (or ``.json``) files
    of one NAME, or the prefix ``DIR/NAME`` of such files."""
    files, name = _rank_files(Path(path))
    ranks: list[RankGraph] = []
    groups: dict[str, tuple[int, ...]] = {}
    attributes: dict[str, str] = {}
    for rank, file in enumerate(files):
        metadata, nodes = _read_file(file)
        rank_groups, rank_attributes = _metadata(metadata, file.name)
        for group, members in rank_groups.items():
            if groups.setdefault(group, members) != members:
                raise ConfigError(f"process group {group!r} has other ranks here than in {files[0].name}",
                                  source=file.name, key="metadata pg_ranks")
        attributes = attributes or rank_attributes
        ranks.append(RankGraph(rank, tuple(_node(node, file.name) for node in nodes), file.name))
    if not groups:
        groups = _comm_groups(files[0].parent / f"{name}.comm_groups.json")
    return ExecutionGraph(name, tuple(ranks), groups, attributes)


def decode_rank(data: bytes, source: str = "trace") -> tuple[Message, list[Message]]:
    """A rank's stream as its metadata message and node messages; ``source`` names it in errors."""
    messages = list(_delimited(data, source))
    if not messages:
        raise ConfigError("the trace is empty: it must start with its global metadata", source=source)
    metadata = _Metadata()
    _parse(metadata, messages[0][1], source, "global metadata", messages[0][0])
    nodes = []
    for index, (offset, body) in enumerate(messages[1:], start=1):
        node = _NodeMessage()
        _parse(node, body, source, f"message {index} (a node)", offset)
        nodes.append(node)
    return metadata, nodes


def _parse(message: Message, body: bytes, source: str, what: str, offset: int) -> None:
    try:
        message.ParseFromString(body)
    except DecodeError as exc:
        raise ConfigError(f"{what} at byte {offset} cannot be decoded: {exc}", source=source) from None


def _delimited(data: bytes, source: str) -> Iterator[tuple[int, bytes]]:
    """(offset, body) of every varint-length-prefixed message of ``data``."""
    offset = 0
    index = 0
    while offset < len(data):
        length, shift, start = 0, 0, offset
        while True:
            if offset >= len(data):
                raise ConfigError(f"the file is truncated inside the length of message {index} (byte {start})",
                                  source=source)
            byte = data[offset]
            offset += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
            if shift > 63:
                raise ConfigError(f"message {index}'s length at byte {start} is no varint", source=source)
        if offset + length > len(data):
            raise ConfigError(f"the file is truncated: message {index} at byte {start} needs {length} bytes, "
                              f"{len(data) - offset} are left", source=source)
        yield start, data[offset:offset + length]
        offset += length
        index += 1


def _read_file(file: Path) -> tuple[Message, list[Message]]:
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read it: {exc.strerror or exc}", source=str(file)) from None
    if file.suffix == ".et":
        return decode_rank(data, file.name)
    return _decode_json(data, file.name)


def _decode_json(data: bytes, source: str) -> tuple[Message, list[Message]]:
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", source=source) from None
    decoder = json.JSONDecoder()
    objects: list[tuple[int, str]] = []
    at = 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            break
        try:
            value, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"JSON object {len(objects)} cannot be read: {exc.msg}", source=f"{source}, line "
                              f"{exc.lineno}") from None
        objects.append((text.count("\n", 0, at) + 1, json.dumps(value)))
        at = end
    if not objects:
        raise ConfigError("the trace is empty: it must start with its global metadata", source=source)
    messages: list[Message] = []
    for index, (line, body) in enumerate(objects):
        message = _Metadata() if index == 0 else _NodeMessage()
        try:
            Parse(body, message)
        except ParseError as exc:
            what = "the global metadata" if index == 0 else f"JSON object {index} (a node)"
            raise ConfigError(f"{what} is no Chakra message: {exc}", source=f"{source}, line {line}") from None
        messages.append(message)
    return messages[0], messages[1:]


def _rank_files(path: Path) -> tuple[list[Path], str]:
    """Every rank's file, in rank order, and the traces' NAME."""
    if path.is_dir():
        directory, names = path, {m.group("name") for p in path.iterdir() if (m := _FILE.match(p.name))}
        if len(names) != 1:
            raise ConfigError(f"expected the files NAME.RANK.et (or .json) of one NAME; found "
                              f"{', '.join(sorted(names)) or 'none'}", source=str(path))
        name = names.pop()
    else:
        directory, name = path.parent, path.name
        if not directory.is_dir():
            raise ConfigError("no such directory", source=str(directory))
    found: dict[int, Path] = {}
    for candidate in sorted(directory.iterdir()):
        match = _FILE.match(candidate.name)
        if match is None or match.group("name") != name:
            continue
        rank = int(match.group("rank"))
        if rank in found:
            raise ConfigError(f"rank {rank} has two files ({found[rank].name} and {candidate.name})",
                              source=str(directory))
        found[rank] = candidate
    if not found:
        raise ConfigError(f"no trace files {name}.RANK.et or {name}.RANK.json", source=str(directory))
    missing = [rank for rank in range(max(found) + 1) if rank not in found]
    if missing:
        raise ConfigError(f"rank {missing[0]} is missing: there are files for ranks up to {max(found)} "
                          f"({name}.{missing[0]}.et is not there)", source=str(directory))
    return [found[rank] for rank in range(len(found))], name


def _metadata(metadata: Message, source: str) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    if metadata.version and metadata.version.startswith("0.0.") and _older(metadata.version):
        raise ConfigError(f"schema version {metadata.version} predates 0.0.4, the oldest oisa reads",
                          source=source, key="metadata version")
    groups: dict[str, tuple[int, ...]] = {}
    attributes: dict[str, str] = {}
    for attr in metadata.attr:
        if attr.name == "pg_ranks":
            groups = _groups_json(attr.string_val, source, "metadata pg_ranks")
        elif attr.name.startswith("oisa."):
            attributes[attr.name.removeprefix("oisa.")] = attr.string_val
    return groups, attributes


def _older(version: str) -> bool:
    try:
        return int(version.removeprefix("0.0.")) < 4
    except ValueError:
        return False


def _comm_groups(path: Path) -> dict[str, tuple[int, ...]]:
    if not path.exists():
        return {}
    try:
        return _groups_json(path.read_text(), path.name, "")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read it: {exc}", source=str(path)) from None


def _groups_json(text: str, source: str, key: str) -> dict[str, tuple[int, ...]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"process groups are no JSON: {exc.msg} (line {exc.lineno})", source=source,
                          key=key or None) from None
    if not isinstance(value, dict) or not all(isinstance(v, list) and all(isinstance(r, int) and not isinstance(r, bool)
                                                                          for r in v) for v in value.values()):
        raise ConfigError("process groups are a JSON object of group names to lists of ranks", source=source,
                          key=key or None)
    return {str(name): tuple(members) for name, members in value.items()}


def _node(message: Message, source: str) -> Node:
    """One Chakra node as a graph node."""
    key = f"node {message.id}"
    kind = _KIND_OF_TYPE.get(message.type)
    if kind is None:
        known = ", ".join(_TYPE_NAMES[t] for t in _KIND_OF_TYPE)
        what = _TYPE_NAMES.get(message.type, str(message.type))
        raise ConfigError(f"oisa runs no node of type {what} (it runs {known})", source=source, key=f"{key} type")
    attrs = {attr.name: attr for attr in message.attr}

    def integer(name: str, default: int = 0) -> int:
        attr = attrs.get(name)
        if attr is None:
            return default
        chosen = attr.WhichOneof("value")
        if chosen not in _INTEGER_VALUES:
            raise ConfigError(f"must be an integer, not {chosen or 'empty'}", source=source, key=f"{key} {name}")
        return int(getattr(attr, chosen))

    def text(name: str, default: str) -> str:
        attr = attrs.get(name)
        if attr is None:
            return default
        chosen = attr.WhichOneof("value")
        if chosen == "string_val":
            return str(attr.string_val)
        if chosen in _INTEGER_VALUES:  # ASTRA-sim's examples give pg_name as a number too
            return str(getattr(attr, chosen))
        raise ConfigError(f"must be a string, not {chosen or 'empty'}", source=source, key=f"{key} {name}")

    common = {"id": message.id, "name": message.name, "data_deps": tuple(message.data_deps),
              "ctrl_deps": tuple(message.ctrl_deps)}
    if kind is Kind.COMPUTE:
        cpu = attrs.get("is_cpu_op")
        return Node(kind=kind, duration_ps=message.duration_micros * _PS_PER_MICROSECOND, flops=integer("num_ops"),
                    memory_bytes=integer("tensor_size"), host=bool(cpu is not None and cpu.bool_val), **common)
    if kind is Kind.COLLECTIVE:
        comm_type = integer("comm_type", -1)
        if "comm_type" not in attrs:
            raise ConfigError("a collective names its comm_type", source=source, key=f"{key} comm_type")
        if comm_type not in _COLLECTIVE_OF:
            what = _COMM_NAMES.get(comm_type, str(comm_type))
            runs = ", ".join(_COMM_NAMES[c] for c in _COLLECTIVE_OF)
            raise ConfigError(f"oisa runs no {what} collective (it runs {runs})", source=source,
                              key=f"{key} comm_type")
        return Node(kind=kind, collective=_COLLECTIVE_OF[comm_type], size=integer("comm_size"),
                    group=text("pg_name", WORLD), **common)
    if kind in (Kind.SEND, Kind.RECV):
        peer_field = "comm_dst" if kind is Kind.SEND else "comm_src"
        if peer_field not in attrs:
            raise ConfigError(f"a {kind.value} names its peer", source=source, key=f"{key} {peer_field}")
        return Node(kind=kind, size=integer("comm_size"), peer=integer(peer_field), tag=integer("comm_tag"),
                    **common)
    if kind in (Kind.LOAD, Kind.STORE):
        location = text("mem_location", Where.LOCAL.value)
        if location not in Where.__members__.values():
            raise ConfigError(f"unknown location {location!r} (known: {', '.join(w.value for w in Where)})",
                              source=source, key=f"{key} mem_location")
        return Node(kind=kind, memory_bytes=integer("tensor_size"), where=Where(location),
                    peer=integer("mem_peer", -1), **common)
    return Node(kind=kind, duration_ps=message.duration_micros * _PS_PER_MICROSECOND, **common)


# -- writing ---------------------------------------------------------------------------------------------


def write_graph(graph: ExecutionGraph, prefix: str | Path, *, form: str = "et") -> list[Path]:
    """Write ``graph`` as ``PREFIX.RANK.et`` (or ``.json``) files, one per rank, and
    ``PREFIX.comm_groups.json``; return the rank files' paths. A trace of the same PREFIX written
    before is replaced whole: its rank files (of either form) and groups go first, so reading the
    prefix back never mixes the two."""
    if form not in FORMS:
        raise ConfigError(f"no such form (forms: {', '.join(FORMS)})", key="form")
    prefix = Path(prefix)
    try:
        prefix.parent.mkdir(parents=True, exist_ok=True)
        for old in prefix.parent.iterdir():
            match = _FILE.match(old.name)
            ours = match is not None and match.group("name") == prefix.name
            if ours or old.name == f"{prefix.name}.comm_groups.json":
                old.unlink()
        paths = []
        for rank in graph.ranks:
            path = prefix.with_name(f"{prefix.name}.{rank.rank}.{form}")
            metadata, nodes = _messages(graph, rank)
            if form == "et":
                path.write_bytes(encode_rank(metadata, nodes))
            else:
                path.write_text("".join(MessageToJson(m) + "\n" for m in (metadata, *nodes)))
            paths.append(path)
        if graph.groups:
            prefix.with_name(f"{prefix.name}.comm_groups.json").write_text(
                json.dumps({name: list(members) for name, members in graph.groups.items()}) + "\n")
    except OSError as exc:
        raise ConfigError(f"cannot write the trace: {exc.strerror or exc}", source=str(prefix)) from None
    return paths


def encode_rank(metadata: Message, nodes: list[Message]) -> bytes:
    """A rank's metadata and nodes as a length-delimited stream."""
    return b"".join(_varint(len(body)) + body for body in (m.SerializeToString() for m in (metadata, *nodes)))


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _messages(graph: ExecutionGraph, rank: RankGraph) -> tuple[Message, list[Message]]:
    metadata = _Metadata(version=VERSION)
    metadata.attr.add(name="schema", string_val="oisa execution graph")
    if graph.groups:
        metadata.attr.add(name="pg_ranks", string_val=json.dumps({k: list(v) for k, v in graph.groups.items()}))
    for key, value in graph.attributes.items():
        metadata.attr.add(name=f"oisa.{key}", string_val=value)
    return metadata, [_message(node) for node in rank.nodes]


def _message(node: Node) -> Message:
    message = _NodeMessage(id=node.id, name=node.name, type=_TYPE_OF_KIND[node.kind], data_deps=node.data_deps,
                           ctrl_deps=node.ctrl_deps)
    add = message.attr.add
    if node.kind in (Kind.COMPUTE, Kind.MARKER):
        if node.duration_ps:
            if node.duration_ps % _PS_PER_MICROSECOND:
                raise ConfigError("Chakra counts durations in whole microseconds; give FLOPs instead",
                                  source=f"rank node {node.id}", key="duration_ps")
            message.duration_micros = node.duration_ps // _PS_PER_MICROSECOND
        if node.kind is Kind.COMPUTE:
            add(name="num_ops", int64_val=node.flops)
            add(name="tensor_size", uint64_val=node.memory_bytes)
            if node.host:
                add(name="is_cpu_op", bool_val=True)
    elif node.kind is Kind.COLLECTIVE:
        add(name="comm_type", int64_val=_COMM_OF[node.collective])
        add(name="comm_size", int64_val=node.size)
        if node.group != WORLD:
            add(name="pg_name", string_val=node.group)
    elif node.kind in (Kind.SEND, Kind.RECV):
        add(name="comm_dst" if node.kind is Kind.SEND else "comm_src", int64_val=node.peer)
        add(name="comm_size", int64_val=node.size)
        add(name="comm_tag", int64_val=node.tag)
    else:
        add(name="tensor_size", uint64_val=node.memory_bytes)
        add(name="mem_location", string_val=node.where.value)
        if node.where is Where.PEER:
            add(name="mem_peer", int64_val=node.peer)
    return message
