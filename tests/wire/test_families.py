"""Each protocol family's package is its public face: everything its modules declare public is
importable from the family itself, as the very same object, and nothing else is promised."""

import importlib
import pkgutil

import pytest

FAMILIES = ("oisa", "pcie", "cxl", "vdesc")


def _modules(family):
    package = importlib.import_module(f"oisa.wire.{family}")
    return package, [importlib.import_module(info.name)
                     for info in pkgutil.iter_modules(package.__path__, f"{package.__name__}.")]


@pytest.mark.parametrize("family", FAMILIES)
def test_the_family_re_exports_every_public_name_of_its_modules(family):
    package, modules = _modules(family)
    assert modules, f"oisa.wire.{family} has no modules"
    for module in modules:
        for name in module.__all__:
            assert name in package.__all__, f"{module.__name__}.{name} is public; oisa.wire.{family} does not export it"
            assert getattr(package, name) is getattr(module, name), f"oisa.wire.{family}.{name} is another object"


@pytest.mark.parametrize("family", FAMILIES)
def test_the_family_exports_only_names_it_has(family):
    package, _ = _modules(family)
    assert len(package.__all__) == len(set(package.__all__))
    for name in package.__all__:
        assert hasattr(package, name), f"oisa.wire.{family}.__all__ names {name}, which it does not have"


def test_oisa_and_pcie_share_one_set_of_flow_control_classes():
    from oisa.wire import oisa, pcie
    from oisa.wire.fc_class import FcClass

    assert oisa.FcClass is pcie.FcClass is FcClass
    assert oisa.OPCODES[oisa.Opcode.MEM_WR].fc_class is pcie.TLP_TYPES[pcie.TlpType.MWR_32].fc_class is FcClass.POSTED
