"""Every format of `oisa decode` / `oisa encode`: fields round-trip to the same bytes through
JSON, and no bytes at all make a decoder raise anything but FrameError."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oisa.errors import FrameError, OisaError
from oisa.testing import strategies as oisa_st
from oisa.wire.formats import FORMATS, FormatOptions

NAMES = sorted(FORMATS)


@pytest.mark.parametrize("fmt", NAMES)
@given(data=st.data())
def test_decode_then_encode_gives_the_same_bytes(fmt, data):
    frame, options = data.draw(oisa_st.frames(fmt))
    fields = json.loads(json.dumps(FORMATS[fmt].decode(frame, options)))
    assert FORMATS[fmt].encode(fields, options) == frame


@pytest.mark.parametrize("fmt", NAMES)
@given(data=st.data())
def test_mutated_frames_raise_only_frame_errors(fmt, data):
    frame, options = data.draw(oisa_st.frames(fmt))
    mutated = data.draw(oisa_st.mutated_bytes(st.just(frame)))
    try:
        fields = FORMATS[fmt].decode(mutated, options)
    except FrameError:
        return
    # it decoded: then it must be a valid frame, which encodes back to exactly these bytes
    assert FORMATS[fmt].encode(fields, options) == mutated


@pytest.mark.parametrize("fmt", NAMES)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_frame_errors(fmt, data):
    try:
        FORMATS[fmt].decode(data, FormatOptions())
    except FrameError:
        pass


@pytest.mark.parametrize("fmt", NAMES)
@given(st.dictionaries(st.sampled_from(["kind", "opcode", "fmt", "type", "tag", "payload", "seq", "class"]),
                       st.one_of(st.integers(-5, 70000), st.text(max_size=6), st.booleans(), st.none()), max_size=5))
def test_bad_fields_raise_only_oisa_errors(fmt, fields):
    try:
        FORMATS[fmt].encode(fields, FormatOptions())
    except OisaError:
        pass
