"""Misuse of the Python API is one typed error naming the keyword (issue 15, item 16).

Each case is a call a script could make by mistake; the error must come from ``oisa.errors``
and name the argument as the caller wrote it, never a TypeError, an OSError or a traceback from
deep inside a run.
"""

import pytest

from oisa.device import load_profile
from oisa.errors import ConfigError, UsageError
from oisa.fabric import FabricSpec, load_fabric
from oisa.workload import Limits, Run, run_p2p
from oisa.workload.collectives import run_collective
from oisa.workload.loadstore import run_loadstore
from oisa.workload.sweep import sweep, sweep_sizes


@pytest.fixture(scope="module")
def pair() -> FabricSpec:
    return load_fabric("pair")


def refused(call, parameter: str, fragment: str = "") -> UsageError:
    with pytest.raises(UsageError) as caught:
        call()
    assert caught.value.parameter == parameter, caught.value
    assert str(caught.value).startswith(parameter), caught.value
    assert fragment in str(caught.value)
    return caught.value


def test_a_workload_takes_a_catalog_name_for_its_fabric():
    result = run_p2p("pair", size=4096)
    assert result.verified and result.size == 4096


@pytest.mark.parametrize("spec", [None, 3, 1.5, b"pair", ["pair"]])
def test_a_fabric_that_is_neither_a_spec_nor_a_name_is_refused(spec):
    refused(lambda: run_p2p(spec, size=4096), "spec", "expected a FabricSpec")


@pytest.mark.parametrize(("size", "fragment"), [(0, "1 or more"), (-1, "1 or more"), (1.5, "not float"),
                                                ("4KiB", "not str"), (None, "not NoneType"), (True, "not bool")])
def test_a_size_that_is_not_a_positive_integer_is_refused(pair, size, fragment):
    refused(lambda: run_p2p(pair, size=size), "size", fragment)


@pytest.mark.parametrize("seed", [-1, "x", 1.5, True, None])
def test_a_seed_that_is_not_a_natural_number_is_refused(seed):
    refused(lambda: Run(seed=seed), "seed", "a seed is an integer")


@pytest.mark.parametrize("engine", ["warp", None, ["timing"], 3])
def test_an_engine_that_is_not_a_name_of_one_is_refused(engine):
    """A list used to reach ``engine in ENGINES`` and raise TypeError: unhashable."""
    refused(lambda: Run(engine=engine), "engine", "no such engine")


def test_faults_as_a_dict_is_refused():
    refused(lambda: Run(faults={"ber": 1e-3}), "faults", "FaultModel")


def test_a_run_that_is_not_a_run_is_refused(pair):
    refused(lambda: run_p2p(pair, 3, size=4096), "run", "oisa.workload.Run")


@pytest.mark.parametrize("name", ["data_bytes", "memory_bytes", "frame_cards"])
@pytest.mark.parametrize("value", [-1, 1.5, "1GiB", True])
def test_limits_that_are_not_natural_numbers_are_refused(name, value):
    refused(lambda: Limits(**{name: value}), name, "cards" if name == "frame_cards" else "bytes")


@pytest.mark.parametrize(("src", "fragment"), [(1.0, "expected a card id"), (-1, "expected a card id"),
                                               (5, "fabric pair has no card 5 (cards: 0-1)")])
def test_a_card_that_is_not_a_card_of_the_fabric_is_the_arguments_fault(pair, src, fragment):
    """A card the fabric lacks used to surface as a ConfigError about the fabric."""
    refused(lambda: run_p2p(pair, src=src, size=4096), "src", fragment)
    refused(lambda: run_loadstore(pair, dst=src, accesses=1), "dst", fragment)


def test_cards_of_a_collective_the_fabric_lacks_are_the_arguments_fault(pair):
    refused(lambda: run_collective(pair, "allreduce", size=64, cards=[0, 7]), "cards", "no card 7")


def test_an_option_a_workload_does_not_take_is_named(pair):
    refused(lambda: run_collective(pair, "allreduce", size=64, root=1), "root", "takes no such option")


@pytest.mark.parametrize("collective", [None, 3, "all_reduce"])
def test_a_collective_that_is_not_one_is_refused(pair, collective):
    """None used to reach ``in family`` of a dict, 3 too; both are one error naming the keyword."""
    refused(lambda: run_collective(pair, collective, size=64), "collective", "no such collective")
    refused(lambda: sweep(pair, collective, min_size=64, max_size=64), "collective", "no such collective")


def test_load_fabric_refuses_a_spec_already_loaded(pair):
    """It used to look the spec's text up as a file name: OSError, file name too long."""
    refused(lambda: load_fabric(pair), "name_or_path", "not FabricSpec")


@pytest.mark.parametrize("name", [None, 3])
def test_load_profile_refuses_what_is_not_a_name_or_a_path(name):
    refused(lambda: load_profile(name), "name_or_path", f"not {type(name).__name__}")


def test_a_name_too_long_to_look_up_is_a_config_error_shown_short():
    with pytest.raises(ConfigError) as caught:
        load_fabric("x" * 5000)
    assert "cannot be looked up" in str(caught.value) and "(5,000 characters)" in str(caught.value)
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(("parameters", "fragment"), [([1], "not list"), ("cards=4", "not str"),
                                                      ({1: 2}, "1 is not a key")])
def test_load_fabric_refuses_parameters_that_are_not_a_mapping_of_keys(parameters, fragment):
    """A list used to raise TypeError from inside the builder."""
    refused(lambda: load_fabric("pair", parameters=parameters), "parameters", fragment)


@pytest.mark.parametrize("limit", [-1, 1.5, "1GiB", True])
def test_load_fabric_refuses_a_memory_limit_that_is_not_a_number_of_bytes(limit):
    refused(lambda: load_fabric("pair", memory_limit=limit), "memory_limit", "number of bytes")


@pytest.mark.parametrize("name", ["min_size", "max_size", "factor"])
@pytest.mark.parametrize("value", [1.5, "4KiB", None, True])
def test_sweep_sizes_refuses_what_is_not_an_integer(name, value):
    arguments = {"min_size": 8, "max_size": 64, "factor": 2, name: value}
    refused(lambda: sweep_sizes(**arguments), name, "expected an integer")


def test_sweep_takes_a_catalog_name_and_checks_its_run_and_progress(pair):
    done = sweep("pair", "allreduce", min_size=64, max_size=128)
    assert [result.size for result in done.results] == [64, 128]
    refused(lambda: sweep(pair, "allreduce", 7, min_size=64, max_size=64), "run", "oisa.workload.Run")
    refused(lambda: sweep(pair, "allreduce", min_size=64, max_size=64, progress=3), "progress", "expected a function")
    refused(lambda: sweep(pair, "allreduce", min_size=64, max_size=64, size=64), "size", "sets the sizes itself")


def test_a_sweep_size_no_card_can_hold_is_max_sizes_fault(pair):
    """The refusal named ``size``, which a sweep's caller never gave."""
    refused(lambda: sweep(pair, "allreduce", min_size=2**50, max_size=2**50), "max_size", "at 1024TiB")


@pytest.mark.parametrize(("accesses", "size"), [(2**50, 64), (65_537, 64), (16_385, 256)])
def test_loadstore_refuses_more_accesses_than_the_sources_buffers_hold(pair, accesses, size):
    """2**50 accesses asked numpy for 64 PiB (MemoryError); 65,537 of 64 B ran the stored data
    into the landing area of the loads."""
    refused(lambda: run_loadstore(pair, accesses=accesses, size=size), "accesses", f"at most {2**22 // size:,}")



@pytest.mark.parametrize(("kwargs", "parameter"), [
    ({"run": 3}, "run"),
    ({"progress": 3}, "progress"),
    ({"max_cards": 0}, "max_cards"),
    ({"max_cards": -1}, "max_cards"),
    ({"max_cards": 1.5}, "max_cards"),
    ({"max_cards": "x"}, "max_cards"),
    ({"big_model": 1}, "big_model"),
    ({"model": "gpt-5"}, "model"),
    ({"tokens": 0}, "tokens"),
    ({"tokens": 2**60}, "tokens"),
    ({"compute_efficiency": 0}, "compute_efficiency"),
    ({"compute_efficiency": 1.5}, "compute_efficiency"),
    ({"compute_efficiency": "x"}, "compute_efficiency"),
    ({"sensitivity": "yes"}, "sensitivity"),
])
def test_the_article_scenario_refuses_what_it_cannot_take_before_any_step_runs(kwargs, parameter):
    from oisa.workload.scenario import run_article

    if "run" in kwargs:
        refused(lambda: run_article(kwargs["run"]), parameter)
    else:
        refused(lambda: run_article(**kwargs), parameter)


def test_article_steps_and_training_refuse_what_would_overflow_or_is_no_count():
    from oisa.workload.scenario import article_steps
    from oisa.workload.training import MAX_TOKENS, run_training

    refused(lambda: article_steps("x"), "max_cards")
    refused(lambda: run_training("pair", tokens=2**60), "tokens", f"at most {MAX_TOKENS:,}")
    refused(lambda: run_training("pair", compute_efficiency=0), "compute_efficiency", "fraction above 0")
    refused(lambda: run_training("pair", compute_efficiency=True), "compute_efficiency", "fraction above 0")
