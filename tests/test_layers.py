"""The layers of ``DESIGN.md``, checked on the source: every module under ``oisa/`` is parsed (never
imported) and each of its imports, wherever it sits (top level, inside a function, under
``TYPE_CHECKING``), is held to four rules:

* no module imports a private (``_name``) module of another package, nor a private name out of
  another package's module; a package's own private modules are its business;
* ``wire``, ``link``, ``transaction``, ``flow`` and ``ccl`` never import trio (or outcome, its
  companion): only ``sim`` knows the runtime;
* a layer imports only the layers :data:`MAY_IMPORT` gives it, plus the foundation modules that
  anything may import;
* inside ``wire`` the protocol families do not know each other: a family imports only itself and
  the shared modules at ``oisa/wire/`` top level, which import no family (but ``formats``, the
  table of every format, which sits above them all).

A module that belongs to no layer fails too: a new top-level module or package must be placed in
:data:`MAY_IMPORT` before it can import anything.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "oisa"

FOUNDATION = frozenset({"errors", "units", "config", "plan", "catalog", "jsontext"})
"""Modules any layer may import; they import only each other."""


def _and_below(*layers: str) -> frozenset[str]:
    """``layers`` and everything they may import, transitively."""
    found: set[str] = set()
    todo = list(layers)
    while todo:
        layer = todo.pop()
        if layer not in found:
            found.add(layer)
            todo.extend(MAY_IMPORT[layer])
    return frozenset(found)


# layer -> the layers it may import besides itself and the foundation (bottom up, as in DESIGN.md)
MAY_IMPORT: dict[str, frozenset[str]] = {}
MAY_IMPORT["wire"] = frozenset()
MAY_IMPORT["link"] = frozenset({"wire"})
MAY_IMPORT["transaction"] = frozenset({"wire"})
MAY_IMPORT["sim"] = frozenset({"link", "transaction", "wire"})
MAY_IMPORT["device"] = frozenset({"sim", "transaction", "wire", "link"})
MAY_IMPORT["fabric"] = _and_below("sim", "device")
MAY_IMPORT["flow"] = frozenset({"fabric", "device", "wire"})  # a specification's routes, never the runtime
MAY_IMPORT["ccl"] = frozenset({"fabric", "device", "wire"})  # likewise
MAY_IMPORT["graph"] = frozenset()  # execution graphs as data: what ranks do, not where or on what they run
MAY_IMPORT["workload"] = _and_below("ccl", "fabric", "flow", "device", "sim", "graph")
MAY_IMPORT["observe"] = _and_below("sim", "wire")
MAY_IMPORT["report"] = _and_below("workload", "observe")
MAY_IMPORT["study"] = _and_below("workload", "report")
MAY_IMPORT["testing"] = frozenset(MAY_IMPORT) | {"specgen", "vectors", "cli"}
MAY_IMPORT["specgen"] = MAY_IMPORT["vectors"] = frozenset(MAY_IMPORT) | {"specgen", "vectors"}  # tools: all but cli
MAY_IMPORT["cli"] = frozenset(MAY_IMPORT) | {"cli"}
MAY_IMPORT["__main__"] = MAY_IMPORT["cli"]  # ``python -m oisa`` and the script's entry point: the command itself

NO_TRIO = frozenset({"wire", "link", "transaction", "flow", "ccl"})
TRIO = frozenset({"trio", "outcome"})
WIRE_ABOVE_FAMILIES = frozenset({"oisa.wire.formats"})


@dataclass(frozen=True)
class Import:
    line: int
    module: str  # the module imported, absolute
    name: str | None = None  # for ``from module import name``: the name


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports(module: str, source: str, is_package: bool, known: set[str]) -> list[Import]:
    """Every import in ``source``; ``from a import b`` also counts as importing module ``a.b``
    when ``a.b`` is one of the ``known`` modules."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(Import(node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source_module = ".".join(base + ([node.module] if node.module else []))
            else:
                source_module = node.module or ""
            for alias in node.names:
                candidate = f"{source_module}.{alias.name}"
                if candidate in known:
                    found.append(Import(node.lineno, candidate))
                else:
                    found.append(Import(node.lineno, source_module, alias.name))
    return found


def layer_of(module: str) -> str:
    parts = module.split(".")
    return "root" if len(parts) == 1 else parts[1]


def _private_at(dotted: str) -> int | None:
    """Index of the first private component of a dotted name, if any."""
    for index, part in enumerate(dotted.split(".")):
        if part.startswith("_") and not (part.startswith("__") and part.endswith("__")):
            return index
    return None


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _private_problem(module: str, imp: Import, known: set[str]) -> str | None:
    at = _private_at(imp.module)
    if at is not None:
        owner = ".".join(imp.module.split(".")[:at])
        if not _inside(module, owner):
            return f"imports {imp.module}, a private module of {owner}"
    if imp.name is not None and _private_at(imp.name) is not None:
        is_package = any(other.startswith(imp.module + ".") for other in known)
        owner = imp.module if is_package else imp.module.rpartition(".")[0]
        if not _inside(module, owner):
            return f"imports {imp.name} from {imp.module}: a private name of another package"
    return None


def _layer_problem(module: str, imp: Import) -> str | None:
    if not _inside(imp.module, "oisa") or imp.module == "oisa":
        return None
    mine, theirs = layer_of(module), layer_of(imp.module)
    if mine == "root" or mine in FOUNDATION:
        if theirs not in FOUNDATION:
            return f"imports {imp.module}: the foundation (and the oisa package itself) imports only the foundation"
        return None
    if mine not in MAY_IMPORT:
        return f"oisa.{mine} is in no layer: place it in MAY_IMPORT of tests/test_layers.py"
    if theirs == mine or theirs in FOUNDATION or theirs in MAY_IMPORT[mine]:
        return None
    allowed = ", ".join(sorted(MAY_IMPORT[mine])) or "nothing of ours"
    return f"imports {imp.module}: {mine} may import {allowed} (and the foundation)"


def _trio_problem(module: str, imp: Import) -> str | None:
    if layer_of(module) in NO_TRIO and imp.module.split(".")[0] in TRIO:
        return f"imports {imp.module}: {layer_of(module)} never imports trio; only sim knows the runtime"
    return None


def _wire_family(module: str, families: set[str]) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["oisa", "wire"] and parts[2] in families else None


def _family_problem(module: str, imp: Import, families: set[str]) -> str | None:
    if layer_of(module) != "wire" or not _inside(imp.module, "oisa.wire") or module in WIRE_ABOVE_FAMILIES:
        return None
    mine, theirs = _wire_family(module, families), _wire_family(imp.module, families)
    if imp.module in WIRE_ABOVE_FAMILIES:
        return f"imports {imp.module}, which sits above the protocol families"
    if imp.module == "oisa.wire" and imp.name in families:
        theirs = imp.name
    if theirs is not None and theirs != mine:
        if mine is None:
            return f"imports the {theirs} family: the shared wire modules know no family"
        return f"imports the {theirs} family: the {mine} family knows only itself and the shared wire modules"
    return None


def problems(module: str, source: str, *, is_package: bool = False, known: set[str], families: set[str]) -> list[str]:
    """What is wrong with the imports of ``module`` (whose text is ``source``), one line each."""
    found: dict[str, None] = {}  # in order, each once (``from a import b, c`` is one import of ``a``)
    for imp in imports(module, source, is_package, known):
        for check in (_private_problem(module, imp, known), _layer_problem(module, imp), _trio_problem(module, imp),
                      _family_problem(module, imp, families)):
            if check is not None:
                found[f"{module}:{imp.line} {check}"] = None
    return list(found)


def _families() -> set[str]:
    return {path.parent.name for path in (PACKAGE / "wire").glob("*/__init__.py")}


def test_every_module_keeps_to_its_layer():
    modules = all_modules()
    known, families = set(modules), _families()
    found = []
    for module, path in modules.items():
        found += problems(module, path.read_text(), is_package=path.name == "__init__.py", known=known,
                          families=families)
    assert not found, "\n".join(found)


def test_the_table_knows_every_layer_there_is():
    layers = {layer_of(module) for module in all_modules()} - {"root"}
    assert layers - set(MAY_IMPORT) - FOUNDATION == set()
    assert {"wire", "link", "transaction", "sim", "device", "fabric", "workload", "observe", "report"} <= layers


def test_the_wire_families_are_all_there():
    assert _families() == {"oisa", "pcie", "cxl", "vdesc"}


# -- the checker catches what it is meant to catch ------------------------------------------------

KNOWN = {"oisa.sim", "oisa.sim._kernel", "oisa.sim.frames", "oisa.wire", "oisa.wire.schema", "oisa.wire.formats",
         "oisa.wire.oisa", "oisa.wire.oisa.codec", "oisa.wire.pcie", "oisa.wire.pcie.tlp", "oisa.fabric",
         "oisa.errors", "oisa.cli", "oisa.observe", "oisa.observe.capture"}
FAMILIES = {"oisa", "pcie"}


@pytest.mark.parametrize(("module", "source", "complaint"), [
    ("oisa.device.card", "from oisa.sim._kernel import Kernel", "a private module of oisa.sim"),
    ("oisa.device.card", "from oisa.sim import _kernel", "a private module of oisa.sim"),
    ("oisa.device.card", "from oisa.sim import _clock", "a private name of another package"),
    ("oisa.wire.pcie.tlp", "from oisa.wire.oisa.codec import _MSG_HEADER", "a private name of another package"),
    ("oisa.wire.oisa.codec", "import trio", "wire never imports trio"),
    ("oisa.link.endpoint", "from trio.lowlevel import checkpoint", "link never imports trio"),
    ("oisa.transaction.requester", "import outcome", "transaction never imports trio"),
    ("oisa.link.endpoint", "from oisa.sim import Kernel", "link may import wire"),
    ("oisa.wire.oisa.codec", "from oisa.fabric import FabricSpec", "wire may import nothing of ours"),
    ("oisa.flow.rates", "from oisa.sim import Kernel", "flow may import device, fabric, wire"),
    ("oisa.observe.timeline", "from oisa.fabric import FabricSpec", "observe may import"),
    ("oisa.report.tables", "from oisa.cli import main", "report may import"),
    ("oisa.specgen", "def f():\n    from oisa.cli import main", "specgen may import"),
    ("oisa.errors", "from oisa.wire.oisa import Message", "the foundation"),
    ("oisa.run", "from oisa.errors import UsageError", "oisa.run is in no layer"),
    ("oisa.wire.pcie.tlp", "from oisa.wire.oisa import FcClass", "the pcie family knows only itself"),
    ("oisa.wire.pcie.tlp", "from oisa.wire import oisa", "the pcie family knows only itself"),
    ("oisa.wire.schema", "from oisa.wire.pcie.tlp import Tlp", "the shared wire modules know no family"),
    ("oisa.wire.oisa.codec", "from oisa.wire.formats import FORMATS", "sits above the protocol families"),
    ("oisa.sim.frames", "from .._kernel import Kernel", "imports oisa._kernel"),
])
def test_the_checker_names_the_module_and_the_import(module, source, complaint):
    found = problems(module, source, known=KNOWN, families=FAMILIES)
    assert found and all(f.startswith(f"{module}:") for f in found)
    assert any(complaint in f for f in found), found


@pytest.mark.parametrize(("module", "source"), [
    ("oisa.sim.frames", "from oisa.sim._kernel import Kernel"),  # a package's own private module
    ("oisa.sim.frames", "from ._kernel import Kernel"),
    ("oisa.device.card", "from oisa.sim import Kernel\nfrom oisa.errors import UsageError"),
    ("oisa.workload.p2p", "import trio\nfrom oisa.fabric import FabricSpec"),
    ("oisa.observe.capture", "from oisa.sim.frames import x\nfrom oisa.wire.oisa import Message"),
    ("oisa.wire.pcie.tlp", "from oisa.wire.schema import Field\nfrom oisa.wire.pcie.crc import ecrc32"),
    ("oisa.wire.formats", "from oisa.wire.oisa import Message\nfrom oisa.wire.pcie import Tlp"),
    ("oisa.cli", "from oisa.testing import strategies\nfrom oisa.specgen import main"),
    ("oisa.flow.rates", "from oisa.fabric import FabricSpec\nimport numpy"),
])
def test_the_checker_lets_the_allowed_through(module, source):
    assert problems(module, source, known=KNOWN, families=FAMILIES) == []


MUST_NOT_KNOW = re.compile(r"What it must not know:(.*?)\.(?:\s|$)", re.S)


@pytest.mark.parametrize("layer", sorted(name for name in MAY_IMPORT if (PACKAGE / name / "__init__.py").exists()))
def test_each_layer_says_what_it_must_not_know_and_the_import_rules_agree(layer):
    """Each layer package opens by saying what it must not know (issue 14, item 9); the layers it
    names there are exactly ones :data:`MAY_IMPORT` forbids it, so the prose cannot drift from
    the rules this file enforces."""
    doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text())) or ""
    found = MUST_NOT_KNOW.search(doc)
    assert found, f"oisa/{layer}/__init__.py: its docstring has no 'What it must not know:' sentence"
    named = set(re.findall(r"``(\w+)``", found.group(1))) & set(MAY_IMPORT)
    assert not named & (MAY_IMPORT[layer] | {layer} | FOUNDATION), \
        f"oisa/{layer} says it must not know {sorted(named & MAY_IMPORT[layer])}, which it may import"
    assert named or layer == "testing", f"oisa/{layer}: name the layers it must not know, as ``layer``"
