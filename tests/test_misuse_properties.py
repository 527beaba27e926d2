"""Properties of misuse (issue 15): the command line and the Python API, given arguments that are
wrong in type, sign, magnitude or path, refuse them in one typed error, quickly.

Each example puts one wrong argument among cheap right ones (the ``pair`` and ``mesh-8``
fabrics, 4 KiB transfers, two accesses), so a refusal that comes too late, after a run, shows
as a slow example rather than a slow suite. The command line must answer with one line,
``oisa: error: ...``, and status 1 or 2; the API with one error from :mod:`oisa.errors` (a
:class:`~oisa.errors.UsageError` naming the keyword, where a keyword was wrong).
"""

import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from oisa.cli import main
from oisa.device import load_profile
from oisa.errors import ConfigError, OisaError, UsageError
from oisa.fabric import load_fabric
from oisa.workload import Limits, Run, run_p2p
from oisa.workload.collectives import run_collective
from oisa.workload.loadstore import run_loadstore
from oisa.workload.sweep import sweep

BOUND_S = 10  # no refusal may take longer than this, on this shared machine, under load

# -- the command line ---------------------------------------------------------------------------------------

# Cheap runs each refusal is tried among: were the wrong argument accepted, they would end in seconds.
CLI_CONTEXTS = [
    ["run", "pair", "--size", "4KiB"],
    ["run", "mesh-8", "-w", "allreduce", "--size", "4KiB"],
    ["run", "pair", "-w", "loadstore", "--accesses", "2"],
    ["compare", "pair", "mesh-8", "--size", "4KiB"],
]

NUMBERS = ["-1", "x", "1.5", "", "1e3", "0x10"]  # (a seed of 30 digits is a seed)
HUGE = "9" * 30
PROBABILITIES = ["-0.1", "1.5", "nan", "inf", "x", ""]
NAMES = ["x", "", "RING", "all reduce"]
WRONG_OPTIONS = {
    "--size": ["0", "-1", "1.5", "x", "", "4QiB", "1e400", "9" * 30 + "TiB", "nan", "-4KiB"],
    "--seed": NUMBERS,
    "--src": [*NUMBERS, "99999", HUGE],
    "--dst": [*NUMBERS, "99999", HUGE],
    "--channels": ["0", *NUMBERS, "100000", HUGE],
    "--cards": ["0,0", "0,99999", "a,b", "", ",", "-1", "0,,1", "0-"],
    "--root": [*NUMBERS, "99999", HUGE],
    "--accesses": ["0", *NUMBERS],
    "--background": [*NUMBERS, "99999", HUGE],
    "--tokens": ["0", *NUMBERS],
    "--buckets": ["0", *NUMBERS],
    "--gpus-per-thread": ["0", *NUMBERS],
    "--ber": PROBABILITIES,
    "--drop": PROBABILITIES,
    "--duplicate": PROBABILITIES,
    "--control-drop": PROBABILITIES,
    "--link-down-at": ["-1ns", "x", "1parsec", "nan", "", "-1"],
    "--engine": NAMES,
    "-w": NAMES,
    "-a": NAMES,
    "--protocol": NAMES,
    "--dtype": NAMES,
    "--op": NAMES,
    "--model": NAMES,
    "--spill": NAMES,
    "--precision": ["x", ""],
    "--calibration": ["/nonexistent/calibration.toml", "/dev/null", "/"],
    "--pcap": ["/nonexistent/run.pcapng", "/", ""],
    "--trace": ["/nonexistent/run.perfetto", "/", ""],
    "--bogus": ["1"],
}
WRONG_FABRICS = ["no-such-fabric", "/nonexistent/fabric.toml", "/dev/null", "/", "x" * 300, "x.toml", "..", "-"]


@st.composite
def wrong_command_lines(draw) -> list[str]:
    """A cheap command line with one wrong option value, or a wrong fabric in place of a right one."""
    argv = list(draw(st.sampled_from(CLI_CONTEXTS)))
    if draw(st.booleans()):
        option = draw(st.sampled_from(sorted(WRONG_OPTIONS)))
        argv += [option, draw(st.sampled_from(WRONG_OPTIONS[option]))]
    else:
        argv[draw(st.sampled_from([1, 2] if argv[0] == "compare" else [1]))] = draw(st.sampled_from(WRONG_FABRICS))
    return argv


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # capsys is read out after each example
@given(argv=wrong_command_lines())
def test_a_wrong_argument_on_the_command_line_is_one_error_line(capsys, argv):
    started = time.monotonic()
    status = main(argv)
    took = time.monotonic() - started
    out, err = capsys.readouterr()
    assert status in (1, 2), (status, out, err)
    assert out == "" and err.startswith("oisa: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert took < BOUND_S, f"refused after {took:.1f} s"


# -- the Python API -----------------------------------------------------------------------------------------

# Values wrong for anything that takes a positive integer (a size, a count, a card: too large to be one).
NOT_POSITIVE_INTEGERS = st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True), st.integers(max_value=0),
    st.integers(min_value=2**50, max_value=2**80), st.text(max_size=6), st.binary(max_size=4),
    st.lists(st.integers(0, 3), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)
NOT_NATURAL_NUMBERS = st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True), st.integers(max_value=-1),
    st.text(max_size=6), st.binary(max_size=4), st.lists(st.integers(0, 3), max_size=2),
)
# pair has cards 0 and 1; None is no card but the default one
NOT_CARDS = st.one_of(NOT_NATURAL_NUMBERS.filter(lambda v: v is not None), st.integers(min_value=2, max_value=2**70))
NOT_NAMES = st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=6).filter(str.isupper),
                      st.lists(st.text(max_size=3), max_size=2), st.just(""))
NOT_FABRICS = st.one_of(st.none(), st.integers(), st.floats(), st.binary(max_size=4), st.lists(st.text(max_size=3)),
                        st.sampled_from(WRONG_FABRICS))


@st.composite
def wrong_calls(draw) -> tuple[str, object, Callable[[], object]]:
    """A call with one wrong argument: the keyword that is wrong, its value, a function making the call."""
    choice = draw(st.sampled_from(["p2p", "loadstore", "collective", "sweep", "run", "limits", "fabric", "profile"]))
    if choice == "p2p":
        named = NOT_NAMES.filter(lambda v: v is not None)
        keyword, value = draw(st.sampled_from([("size", NOT_POSITIVE_INTEGERS), ("src", NOT_CARDS),
                                               ("dst", NOT_CARDS), ("spec", NOT_FABRICS),
                                               ("run", named)]).flatmap(_with_value))
        arguments = {"size": 4096, keyword: value}
        spec, run = arguments.pop("spec", "pair"), arguments.pop("run", Run())
        return keyword, value, lambda: run_p2p(spec, run, **arguments)
    if choice == "loadstore":
        keyword, value = draw(st.sampled_from([("size", NOT_POSITIVE_INTEGERS), ("accesses", NOT_POSITIVE_INTEGERS),
                                               ("dst", NOT_CARDS)]).flatmap(_with_value))
        return keyword, value, lambda: run_loadstore("pair", **{"accesses": 2, keyword: value})
    if choice == "collective":
        keyword, value = draw(st.sampled_from([("size", NOT_POSITIVE_INTEGERS), ("collective", NOT_NAMES),
                                               ("algorithm", NOT_NAMES), ("dtype", NOT_NAMES), ("op", NOT_NAMES),
                                               ("cards", st.lists(NOT_CARDS, min_size=1, max_size=2))])
                              .flatmap(_with_value))
        arguments = {"size": 4096, keyword: value}
        collective = arguments.pop("collective", "allreduce")
        return keyword, value, lambda: run_collective(load_fabric("pair"), collective, **arguments)
    if choice == "sweep":
        keyword, value = draw(st.sampled_from([
            ("min_size", NOT_POSITIVE_INTEGERS.filter(lambda v: not isinstance(v, int) or v < 1 or v is True)),
            ("max_size", st.integers(min_value=2**50, max_value=2**80)),  # no card holds it: min_size is as large
            ("factor", NOT_NATURAL_NUMBERS), ("collective", NOT_NAMES), ("progress", st.integers()),
        ]).flatmap(_with_value))
        arguments = {"min_size": value if keyword == "max_size" else 64, "max_size": 64, keyword: value}
        collective = arguments.pop("collective", "allreduce")
        return keyword, value, lambda: sweep("pair", collective, **arguments)
    if choice == "run":
        keyword, value = draw(st.sampled_from([("seed", NOT_NATURAL_NUMBERS), ("engine", NOT_NAMES),
                                               ("faults", st.dictionaries(st.text(max_size=3), st.floats()))])
                              .flatmap(_with_value))
        return keyword, value, lambda: Run(**{keyword: value})
    if choice == "limits":
        keyword = draw(st.sampled_from(["data_bytes", "memory_bytes", "frame_cards"]))
        value = draw(NOT_NATURAL_NUMBERS.filter(lambda v: keyword != "memory_bytes" or v is not None))
        return keyword, value, lambda: Limits(**{keyword: value})
    if choice == "fabric":
        keyword, value = draw(st.sampled_from([("name_or_path", NOT_FABRICS),
                                               ("parameters", st.one_of(st.lists(st.integers()), st.integers(),
                                                                        st.dictionaries(st.integers(), st.integers(),
                                                                                        min_size=1))),
                                               ("memory_limit", NOT_NATURAL_NUMBERS.filter(lambda v: v is not None))])
                              .flatmap(_with_value))
        arguments = {"name_or_path": "pair", keyword: value}
        return keyword, value, lambda: load_fabric(**arguments)
    value = draw(NOT_FABRICS)
    return "name_or_path", value, lambda: load_profile(value)


def _with_value(pair: tuple[str, st.SearchStrategy]) -> st.SearchStrategy:
    keyword, values = pair
    return st.tuples(st.just(keyword), values)


@given(call=wrong_calls())
def test_a_wrong_argument_to_the_api_is_one_typed_error_naming_it(call):
    keyword, value, make = call
    note(f"{keyword}={value!r}")
    started = time.monotonic()
    with pytest.raises(OisaError) as caught:
        make()
    took = time.monotonic() - started
    error = caught.value
    if isinstance(error, UsageError):
        assert keyword in error.parameters, error
    else:  # a string that names no fabric or profile, or no file that is one: the file's error
        assert isinstance(error, ConfigError) and keyword in ("spec", "name_or_path"), error
    assert took < BOUND_S, f"refused after {took:.1f} s"
