"""``oisa.observe`` is the observers' public face: every public name of its modules is there, and
the timeline's are loaded only when asked for, so a run without ``--trace`` never imports Perfetto."""

import importlib
import pkgutil
import subprocess
import sys

import pytest

import oisa.observe


def test_every_public_name_of_the_modules_is_exported_as_the_same_object():
    modules = [importlib.import_module(info.name)
               for info in pkgutil.iter_modules(oisa.observe.__path__, "oisa.observe.")]
    assert {m.__name__.rpartition(".")[2] for m in modules} == {"capture", "dissector", "timeline", "timeline_read"}
    for module in modules:
        for name in module.__all__:
            assert name in oisa.observe.__all__, f"{module.__name__}.{name} is not exported by oisa.observe"
            assert getattr(oisa.observe, name) is getattr(module, name)
    assert sorted(set(oisa.observe.__all__)) == sorted(oisa.observe.__all__)
    for name in oisa.observe.__all__:
        assert hasattr(oisa.observe, name)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'Timelines'"):
        oisa.observe.Timelines  # noqa: B018


def test_perfetto_is_imported_only_with_the_timeline():
    script = """
import sys
import oisa.cli, oisa.observe
from oisa.observe import Capture, dissector_path
assert not [m for m in sys.modules if m.split(".")[0] == "perfetto"], "imported with the CLI"
from oisa.observe import Timeline
assert "perfetto.trace_builder.proto_builder" in sys.modules
"""
    subprocess.run([sys.executable, "-c", script], check=True)
