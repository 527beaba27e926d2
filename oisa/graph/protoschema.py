"""A ``.proto`` file's text turned into message classes at import time, with the protobuf runtime
oisa already depends on.

Why not a generated ``_pb2`` module: protoc's output checks the runtime's version and refuses
another major release (the breakage Chakra's users report, chakra #195 and astra-sim #300);
built from the text, the descriptor fits whichever protobuf is installed. This reads the part of
proto3 the Chakra schema uses (messages, enums, scalar and message fields, ``repeated``,
``optional``, ``oneof``, imports of the well-known types, comments) and nothing else: anything
else in the file is an error naming its line, so a schema edit that needs more fails loudly here
rather than reading bytes wrongly. The classes live in a pool of their own, apart from the
default one, so they never clash with another copy of the same schema a user has loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

from oisa.errors import ConfigError

__all__ = ["Schema", "load_schema"]

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "double": _F.TYPE_DOUBLE, "float": _F.TYPE_FLOAT, "int32": _F.TYPE_INT32, "int64": _F.TYPE_INT64,
    "uint32": _F.TYPE_UINT32, "uint64": _F.TYPE_UINT64, "sint32": _F.TYPE_SINT32, "sint64": _F.TYPE_SINT64,
    "fixed32": _F.TYPE_FIXED32, "fixed64": _F.TYPE_FIXED64, "sfixed32": _F.TYPE_SFIXED32,
    "sfixed64": _F.TYPE_SFIXED64, "bool": _F.TYPE_BOOL, "string": _F.TYPE_STRING, "bytes": _F.TYPE_BYTES,
}
_WELL_KNOWN = {"google/protobuf/any.proto": any_pb2.DESCRIPTOR}
_TOKEN = re.compile(r'"[^"\n]*"|[A-Za-z_][A-Za-z0-9_.]*|-?\d+|[{}=;()<>,\[\]]')


@dataclass(frozen=True)
class Schema:
    """The messages and enums of one ``.proto`` file, by their names within its package."""

    package: str
    messages: dict[str, type[Message]]
    enums: dict[str, dict[str, int]]


def load_schema(path: Path) -> Schema:
    """The schema of the ``.proto`` file at ``path``."""
    text = path.read_text()
    file = _Parser(text, path.name).parse()
    pool = descriptor_pool.DescriptorPool()
    for dependency in file.dependency:
        known = descriptor_pb2.FileDescriptorProto()
        _WELL_KNOWN[dependency].CopyToProto(known)
        pool.Add(known)
    pool.Add(file)
    prefix = f"{file.package}." if file.package else ""
    messages = {m.name: message_factory.GetMessageClass(pool.FindMessageTypeByName(prefix + m.name))
                for m in file.message_type}
    enums = {e.name: {v.name: v.number for v in e.value} for e in file.enum_type}
    return Schema(file.package, messages, enums)


class _Parser:
    """A recursive-descent reader of the proto3 subset named in the module's docstring."""

    def __init__(self, text: str, name: str) -> None:
        self.name = name
        self.tokens: list[tuple[str, int]] = []
        for number, line in enumerate(text.splitlines(), start=1):
            code = line.split("//", 1)[0]
            position = 0
            for match in _TOKEN.finditer(code):
                if code[position:match.start()].strip():
                    self._fail(number, f"cannot read {code[position:match.start()].strip()!r}")
                self.tokens.append((match.group(), number))
                position = match.end()
            if code[position:].strip():
                self._fail(number, f"cannot read {code[position:].strip()!r}")
        self.at = 0
        self.enum_names: set[str] = set()

    def _fail(self, line: int, message: str) -> None:
        raise ConfigError(message, source=f"{self.name}, line {line}")

    def _peek(self) -> str:
        return self.tokens[self.at][0] if self.at < len(self.tokens) else ""

    def _take(self, expected: str | None = None) -> str:
        if self.at >= len(self.tokens):
            line = self.tokens[-1][1] if self.tokens else 1
            self._fail(line, f"the file ends where {expected or 'more'} was expected")
        token, line = self.tokens[self.at]
        if expected is not None and token != expected:
            self._fail(line, f"expected {expected!r}, not {token!r}")
        self.at += 1
        return token

    def _line(self) -> int:
        return self.tokens[min(self.at, len(self.tokens) - 1)][1]

    def parse(self) -> descriptor_pb2.FileDescriptorProto:
        file = descriptor_pb2.FileDescriptorProto(name=self.name)
        # enums first, so fields can tell an enum type from a message type wherever it is declared
        self.enum_names = {self.tokens[i + 1][0] for i, (token, _) in enumerate(self.tokens[:-1]) if token == "enum"}
        while self.at < len(self.tokens):
            keyword = self._take()
            if keyword == "syntax":
                self._take("=")
                if self._take() != '"proto3"':
                    self._fail(self._line(), "only proto3 is read")
                file.syntax = "proto3"
                self._take(";")
            elif keyword == "package":
                file.package = self._take()
                self._take(";")
            elif keyword == "import":
                dependency = self._take().strip('"')
                if dependency not in _WELL_KNOWN:
                    self._fail(self._line(), f"cannot import {dependency} (known: {', '.join(_WELL_KNOWN)})")
                file.dependency.append(dependency)
                self._take(";")
            elif keyword == "message":
                self._message(file.message_type.add(), file.package)
            elif keyword == "enum":
                self._enum(file.enum_type.add())
            else:
                self._fail(self._line(), f"unexpected {keyword!r}")
        return file

    def _enum(self, enum: descriptor_pb2.EnumDescriptorProto) -> None:
        enum.name = self._take()
        self._take("{")
        while self._peek() != "}":
            value = enum.value.add(name=self._take())
            self._take("=")
            value.number = int(self._take())
            self._take(";")
        self._take("}")

    def _message(self, message: descriptor_pb2.DescriptorProto, package: str) -> None:
        message.name = self._take()
        self._take("{")
        while self._peek() != "}":
            if self._peek() == "oneof":
                self._take()
                index = len(message.oneof_decl)
                message.oneof_decl.add(name=self._take())
                self._take("{")
                while self._peek() != "}":
                    self._field(message, package, label=None, oneof=index)
                self._take("}")
            else:
                label = self._take() if self._peek() in ("repeated", "optional") else None
                self._field(message, package, label=label, oneof=None)
        self._take("}")
        for index, field in enumerate(message.field):  # proto3 ``optional`` is a oneof of its own
            if field.proto3_optional:
                field.oneof_index = len(message.oneof_decl)
                message.oneof_decl.add(name=f"_{field.name}")
                message.field[index].CopyFrom(field)

    def _field(self, message: descriptor_pb2.DescriptorProto, package: str, *, label: str | None,
               oneof: int | None) -> None:
        kind = self._take()
        field = message.field.add(name=self._take())
        self._take("=")
        field.number = int(self._take())
        self._take(";")
        field.json_name = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), field.name)
        field.label = _F.LABEL_REPEATED if label == "repeated" else _F.LABEL_OPTIONAL
        if label == "optional":
            field.proto3_optional = True
        if oneof is not None:
            field.oneof_index = oneof
        if kind in _SCALARS:
            field.type = _SCALARS[kind]
        else:
            field.type = _F.TYPE_ENUM if kind in self.enum_names else _F.TYPE_MESSAGE
            field.type_name = f".{kind}" if "." in kind else f".{package}.{kind}" if package else f".{kind}"
