"""Tenancy files: what they say, and one line naming the entry for each thing they get wrong."""

from pathlib import Path

import pytest

from oisa.device.isolation import Window
from oisa.errors import ConfigError
from oisa.fabric import load_fabric
from oisa.fabric.tenancy import Partition, load_tenancy, tenancy

ROOT = Path(__file__).resolve().parents[2]
HEAD = """
[tenants.alpha]
cards = [0, 1]

[tenants.beta]
cards = [2, 3]
"""


@pytest.fixture(scope="module")
def mesh():
    return load_fabric("mesh-8")


def write(tmp_path, text):
    path = tmp_path / "tenants.toml"
    path.write_text(text)
    return path


def window(tenant="alpha", card=1, base=0, size="1MiB", access="rw"):
    base_text = f'"{base}"' if isinstance(base, str) else base
    return (f'\n[[windows]]\ntenant = "{tenant}"\ncard = {card}\nbase = {base_text}\nsize = "{size}"\n'
            f'access = "{access}"\n')


def test_a_file_reads_as_tenants_windows_and_default_partitions(tmp_path, mesh):
    loaded = load_tenancy(write(tmp_path, HEAD + window() + window(card=0, base="0x10_0000", access="r") +
                                window("beta", 3, base="4MiB", size=4096, access="w")), mesh)
    assert loaded.tenants == {"alpha": (0, 1), "beta": (2, 3)}
    assert loaded.windows == (Window("alpha", 1, 0, 1 << 20, True, True),
                              Window("alpha", 0, 1 << 20, 1 << 20, True, False),
                              Window("beta", 3, 4 << 20, 4096, False, True))
    assert loaded.partitions == (Partition("alpha", (0, 1)), Partition("beta", (2, 3)))
    policy = loaded.policy()
    assert policy.same_partition(0, 1) and not policy.same_partition(1, 2)
    assert policy.permits(0, 1, 4096, 64, read=True, write=True)
    assert not policy.permits(1, 0, 1 << 20, 64, read=False, write=True)  # read-only
    assert not policy.permits(2, 1, 0, 64, read=True, write=False)  # beta holds nothing on card 1


def test_the_catalog_example_loads(mesh):
    spec = load_fabric("supernode-64")
    loaded = load_tenancy(ROOT / "tenancies" / "supernode-64-two-tenants.toml", spec)
    assert len(loaded.windows) == 16 and len(loaded.partitions) == 2


def test_adjacent_windows_of_one_tenant_cover_together(mesh):
    t = tenancy(mesh, {"a": [0, 1]}, [Window("a", 1, 0, 4096, True, True), Window("a", 1, 4096, 4096, True, True)])
    assert t.policy().permits(0, 1, 4000, 200, read=True, write=False)
    assert not t.policy().permits(0, 1, 8000, 200, read=True, write=False)


@pytest.mark.parametrize(("text", "key", "words"), [
    (HEAD.replace("[2, 3]", "[1, 3]"), "tenants.beta.cards", "card 1 already belongs to tenant 'alpha'"),
    (HEAD.replace("[2, 3]", "[2, 99]"), "tenants.beta.cards", "card 99 is not a card of fabric mesh-8"),
    (HEAD + window(card=42), "windows[0].card", "card 42 is not a card"),
    (HEAD + window(tenant="gamma"), "windows[0].tenant", "unknown tenant 'gamma'"),
    (HEAD + window(base="190GiB", size="16GiB"), "windows[0]", "runs past"),
    (HEAD + window() + window("beta", 1, base=4096, size=64, access="r"), "windows[1]",
     "overlaps windows[0] on card 1 of tenants 'alpha' and 'beta', one of them writing"),
    (HEAD + window(access="r") + window(base=64, size=64, access="rw"), "windows[1]",
     "overlaps windows[0] on card 1 with other access for the same tenant"),
    (HEAD + window(access="x"), "windows[0].access", "access is one of r, w, rw"),
    (HEAD + window(base=-1), "windows[0].base", "an address is 0 or more"),
    (HEAD + window(base="lots"), "windows[0].base", "expected a byte address"),
    (HEAD + window(size="0"), "windows[0].size", "greater than zero"),
    (HEAD + "\n[[partitions]]\ncards = [0, 1]\n\n[[partitions]]\ncards = [1, 2]\n", "partitions[1].cards",
     "card 1 is already in partition 'partition0'"),
    (HEAD + "\n[[partitions]]\ncards = [0, 77]\n", "partitions[0].cards", "card 77 is not a card"),
    (HEAD + "\n[[partitions]]\ncards = [0, \"one\"]\n", "partitions[0].cards", "expected a list of card ids"),
    (HEAD + window().replace("access", "acess"), "windows[0].acess", "unknown key 'acess'"),
    (HEAD.replace("cards = [0, 1]", "cards = []"), "tenants.alpha.cards", "at least one card"),
    ("[[windows]]\n", "tenants", "missing"),
])
def test_a_wrong_entry_is_one_line_naming_it(tmp_path, mesh, text, key, words):
    with pytest.raises(ConfigError) as raised:
        load_tenancy(write(tmp_path, text), mesh)
    message = str(raised.value)
    assert "\n" not in message
    assert raised.value.key == key, message
    assert words in message


def test_shared_read_only_memory_between_tenants_is_no_conflict(mesh):
    t = tenancy(mesh, {"a": [0, 1], "b": [2, 3]},
                [Window("a", 1, 0, 4096, True, False), Window("b", 1, 0, 4096, True, False)],
                [Partition("all", (0, 1, 2, 3))])
    assert t.policy().permits(2, 1, 0, 4096, read=True, write=False)
    assert not t.policy().permits(2, 1, 0, 4096, read=False, write=True)


def test_a_missing_file_is_one_line(tmp_path, mesh):
    with pytest.raises(ConfigError, match="no such file"):
        load_tenancy(tmp_path / "absent.toml", mesh)
