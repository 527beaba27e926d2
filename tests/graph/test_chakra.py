"""Chakra traces: the schema's bytes, reading and writing both forms, and every kind of bad input
as one error naming the file, the node and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oisa.errors import ConfigError
from oisa.graph import ExecutionGraph, Kind, Node, RankGraph, read_graph, write_graph
from oisa.graph.chakra import SCHEMA, decode_rank, encode_rank
from oisa.graph.protoschema import load_schema
from tests.graph.helpers import data_parallel


def test_a_node_encodes_with_chakras_field_numbers():
    # id 1 (varint), name 2, type 3 (COMM_COLL_NODE = 7), data_deps 5 (packed), attr 10 {name 1, int64_val 9}
    node = SCHEMA.messages["Node"](id=3, name="x", type=SCHEMA.enums["NodeType"]["COMM_COLL_NODE"], data_deps=[1, 2])
    node.attr.add(name="comm_size", int64_val=5)
    assert node.SerializeToString().hex() == "080312017818072a020102520d0a09636f6d6d5f73697a654805"


def test_both_schema_versions_read_as_one():
    enums = SCHEMA.enums
    assert enums["NodeType"]["COMM_COLL_NODE"] == 7 and enums["NodeType"]["CHECKPOINT_NODE"] == 10  # current
    assert enums["CollectiveCommType"]["REDUCE_SCATTER"] == 7 and enums["CollectiveCommType"]["BARRIER"] == 9
    fields = {f.name: f.number for f in SCHEMA.messages["AttributeProto"].DESCRIPTOR.fields}
    assert fields["any_val"] == 33 and fields["bytes_list"] == 32  # 0.0.4's Any values


@pytest.mark.parametrize("form", ["et", "json"])
def test_a_graph_written_and_read_back_is_the_same(tmp_path: Path, form: str):
    graph = data_parallel()
    groups = ExecutionGraph(graph.name, graph.ranks, {"1": (0, 1), "2": (2, 3)}, graph.attributes)
    paths = write_graph(groups, tmp_path / "dp", form=form)
    assert [p.name for p in paths] == [f"dp.{r}.{form}" for r in range(4)]
    assert read_graph(tmp_path / "dp") == groups
    assert read_graph(tmp_path) == groups  # the directory finds its one NAME
    assert json.loads((tmp_path / "dp.comm_groups.json").read_text()) == {"1": [0, 1], "2": [2, 3]}


def test_the_json_form_is_what_chakras_jsonizer_writes(tmp_path: Path):
    write_graph(data_parallel(2), tmp_path / "dp", form="json")
    text = (tmp_path / "dp.0.json").read_text()
    decoder, objects, at = json.JSONDecoder(), [], 0
    while at < len(text.strip()):
        value, at = decoder.raw_decode(text, at)
        objects.append(value)
        while at < len(text) and text[at].isspace():
            at += 1
    assert objects[0]["version"] == "0.0.4"
    assert objects[3]["type"] == "COMM_COLL_NODE" and objects[3]["dataDeps"] == ["1"]


def _stream(tmp_path: Path, nodes: list, rank: int = 0, name: str = "t") -> Path:
    metadata = SCHEMA.messages["GlobalMetadata"](version="0.0.4")
    path = tmp_path / f"{name}.{rank}.et"
    path.write_bytes(encode_rank(metadata, nodes))
    return path


def _node(node_id: int, type_name: str, deps=(), **attrs) -> object:
    node = SCHEMA.messages["Node"](id=node_id, name=f"n{node_id}", type=SCHEMA.enums["NodeType"][type_name],
                                   data_deps=list(deps))
    for key, value in attrs.items():
        if isinstance(value, str):
            node.attr.add(name=key, string_val=value)
        else:
            node.attr.add(name=key, int64_val=value)
    return node


def _error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        read_graph(path)
    return caught.value


def test_a_missing_rank_is_named(tmp_path: Path):
    _stream(tmp_path, [_node(0, "COMP_NODE", num_ops=1)], rank=0)
    _stream(tmp_path, [_node(0, "COMP_NODE", num_ops=1)], rank=2)
    assert "rank 1 is missing" in str(_error(tmp_path / "t"))


def test_a_dependency_cycle_names_the_file_and_node(tmp_path: Path):
    _stream(tmp_path, [_node(0, "COMP_NODE", deps=(1,)), _node(1, "COMP_NODE", deps=(0,))])
    error = _error(tmp_path / "t")
    assert error.source == "t.0.et" and error.key.startswith("node 0") and "cycle" in error.message


def test_a_dependency_on_no_node_is_named(tmp_path: Path):
    _stream(tmp_path, [_node(0, "COMP_NODE", deps=(9,))])
    error = _error(tmp_path / "t")
    assert error.key == "node 0 data_deps" and "node 9" in error.message


@pytest.mark.parametrize("type_name", ["STORAGE_NODE", "INVALID_NODE"])
def test_an_unknown_node_type_is_named(tmp_path: Path, type_name: str):
    _stream(tmp_path, [_node(4, type_name)])
    error = _error(tmp_path / "t")
    assert (error.source, error.key) == ("t.0.et", "node 4 type") and type_name in error.message


def test_a_node_type_beyond_the_schema_is_named(tmp_path: Path):
    node = _node(4, "COMP_NODE")
    node.type = 42  # proto3 enums are open: a newer schema's type reads as its number
    _stream(tmp_path, [node])
    assert "42" in _error(tmp_path / "t").message


def test_an_unknown_collective_is_named(tmp_path: Path):
    _stream(tmp_path, [_node(0, "COMM_COLL_NODE", comm_type=SCHEMA.enums["CollectiveCommType"]["GATHER"],
                             comm_size=8)])
    error = _error(tmp_path / "t")
    assert error.key == "node 0 comm_type" and "GATHER" in error.message


def test_a_process_group_naming_ranks_the_graph_lacks_is_named(tmp_path: Path):
    _stream(tmp_path, [_node(0, "COMM_COLL_NODE", comm_type=0, comm_size=64, pg_name="5")])
    (tmp_path / "t.comm_groups.json").write_text('{"5": [0, 3]}')
    error = _error(tmp_path / "t")
    assert error.key == "5" and "rank 3" in error.message


def test_a_collective_naming_an_undefined_group_is_named(tmp_path: Path):
    _stream(tmp_path, [_node(0, "COMM_COLL_NODE", comm_type=0, comm_size=64, pg_name="5")])
    error = _error(tmp_path / "t")
    assert error.key == "node 0 pg_name"


def test_an_attribute_of_the_wrong_type_is_named(tmp_path: Path):
    _stream(tmp_path, [_node(0, "COMP_NODE", num_ops="many")])
    error = _error(tmp_path / "t")
    assert error.key == "node 0 num_ops" and "integer" in error.message


@pytest.mark.parametrize("cut", [1, 5, 20])
def test_a_truncated_file_is_named(tmp_path: Path, cut: int):
    path = _stream(tmp_path, [_node(0, "COMP_NODE", num_ops=10**12), _node(1, "COMP_NODE", deps=(0,), num_ops=5)])
    path.write_bytes(path.read_bytes()[:-cut])
    error = _error(tmp_path / "t")
    assert error.source == "t.0.et" and "truncated" in error.message


def test_bytes_that_are_no_message_are_named():
    with pytest.raises(ConfigError) as caught:
        decode_rank(b"\x02\xff\xff", "x.0.et")
    assert caught.value.source == "x.0.et" and "cannot be decoded" in caught.value.message


def test_a_json_trace_that_is_no_chakra_message_names_its_line(tmp_path: Path):
    (tmp_path / "t.0.json").write_text('{"version": "0.0.4"}\n{"id": "1", "type": "NO_SUCH"}\n')
    error = _error(tmp_path / "t")
    assert error.source == "t.0.json, line 2" and "JSON object 1" in error.message


def test_an_older_schema_is_refused(tmp_path: Path):
    metadata = SCHEMA.messages["GlobalMetadata"](version="0.0.2")
    (tmp_path / "t.0.et").write_bytes(encode_rank(metadata, []))
    assert "predates 0.0.4" in _error(tmp_path / "t").message


def test_no_trace_at_the_path_is_named(tmp_path: Path):
    assert "no trace files" in _error(tmp_path / "nothing").message
    assert "found none" in _error(tmp_path).message


def test_a_proto_this_reader_cannot_read_names_its_line(tmp_path: Path):
    path = tmp_path / "x.proto"
    path.write_text('syntax = "proto3";\nmessage A {\n  map<string, int32> m = 1;\n}\n')
    with pytest.raises(ConfigError) as caught:
        load_schema(path)
    assert caught.value.source == "x.proto, line 3"


def test_a_recv_with_an_unknown_peer_is_named():
    with pytest.raises(ConfigError) as caught:
        ExecutionGraph("g", (RankGraph(0, (Node(0, "r", Kind.RECV, peer=5, size=8),)),))
    assert caught.value.key == "node 0 comm_src"


def test_the_example_trace_is_what_export_graph_writes(tmp_path: Path, capsys):
    """traces/llama3-70b-mesh8 (the README runs it) regenerates byte for byte: the synthesis and
    the writer cannot drift from the committed example unnoticed."""
    from oisa.cli import main

    example = Path(__file__).resolve().parents[2] / "traces" / "llama3-70b-mesh8"
    assert main(["export-graph", "mesh-8", "--model", "llama3-70b", "--tp", "4", "--pp", "2", "--microbatches", "4",
                 "--seq", "2048", "--layers-per-node", "8", "-o", str(tmp_path / "llama3-70b")]) == 0
    capsys.readouterr()
    committed = sorted(p.name for p in example.iterdir())
    assert committed == sorted(p.name for p in tmp_path.iterdir()) and len(committed) == 9
    for name in committed:
        assert (example / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_a_trace_written_again_at_the_same_prefix_replaces_the_old_one_whole(tmp_path: Path):
    graph = data_parallel()
    groups = ExecutionGraph(graph.name, graph.ranks, {"1": (0, 1), "2": (2, 3)}, graph.attributes)
    write_graph(groups, tmp_path / "dp", form="json")  # four ranks and groups
    (tmp_path / "other.0.et").write_bytes(b"")  # another trace in the same folder stays
    smaller = data_parallel(2)
    write_graph(smaller, tmp_path / "dp", form="et")
    assert read_graph(tmp_path / "dp") == smaller
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dp.0.et", "dp.1.et", "other.0.et"]
