"""``wire:FMT``: a byte format's codecs against valid frames, mutated frames and random bytes.

For a frame generated from an object x, decode(encode(x)) == x: the normative (construct)
decoder reads its bytes back to x's fields, which encode back to the same bytes; where the
format has a fast codec, that codec decodes the bytes to the same object as the schema and
encodes it to the same bytes. For any bytes at all, every decoder either reads them (and then
re-encodes them exactly) or raises FrameError, and the fast codec and the schema agree on which.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from hypothesis import strategies as st

from oisa.errors import FrameError, UsageError
from oisa.testing import strategies as oisa_st
from oisa.testing._explore import PropertyFailed, require
from oisa.testing.fuzz._target import FuzzTarget
from oisa.wire import cxl, pcie, vdesc
from oisa.wire.formats import FORMATS, FormatOptions
from oisa.wire.oisa import codec, fields, flit, message

__all__ = ["FAST_CODECS", "TO_FIELDS", "wire_target"]


def _single_message(data: bytes) -> Any:
    decoded, end = codec.decode_message(data)
    if end != len(data):
        raise FrameError(f"{len(data) - end} bytes after the end of the message", fmt="oisa-msg", offset=end)
    return decoded


# format -> (schema decoder, fast decoder, fast encoder); the formats without a fast codec
# (cxl-mem, cxl-flit) are only ever decoded by their schemas.
_Decode = Callable[[bytes, FormatOptions], Any]
FAST_CODECS: dict[str, tuple[_Decode, _Decode, Callable[[Any, FormatOptions], bytes]]] = {
    "oisa-msg": (lambda d, o: message.decode_message_construct(d), lambda d, o: _single_message(d),
                 lambda m, o: codec.encode_message(m)),
    "oisa-flit": (lambda d, o: flit.decode_flit_construct(d, o.flit_size),
                  lambda d, o: codec.decode_flit(d, o.flit_size), lambda f, o: codec.encode_flit(f, o.flit_size)),
    "pcie-tlp": (lambda d, o: pcie.decode_tlp_construct(d), lambda d, o: pcie.decode_tlp(d),
                 lambda t, o: pcie.encode_tlp(t)),
    "pcie-dllp": (lambda d, o: pcie.decode_dllp_construct(d), lambda d, o: pcie.decode_dllp(d),
                  lambda t, o: pcie.encode_dllp(t)),
    "vdesc": (lambda d, o: vdesc.decode_vdesc_construct(d), lambda d, o: vdesc.decode_vdesc(d),
              lambda t, o: vdesc.encode_vdesc(t)),
}


def _outcome(decode: Callable[[bytes, FormatOptions], Any], data: bytes, options: FormatOptions, who: str) -> Any:
    """What ``decode`` makes of ``data``: the decoded value, or the FrameError it raised."""
    try:
        return decode(data, options)
    except FrameError as exc:
        return exc
    except Exception as exc:
        raise PropertyFailed(f"the {who} raised {type(exc).__name__}: {exc}; bad bytes must raise FrameError, "
                             f"nothing else") from None


# format -> the fields of a generated object, as `oisa decode` prints them
TO_FIELDS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "oisa-msg": fields.message_to_fields, "oisa-flit": fields.flit_to_fields, "pcie-tlp": pcie.tlp_to_fields,
    "pcie-dllp": pcie.dllp_to_fields, "cxl-mem": lambda m: m.to_fields(), "cxl-flit": cxl.cxl_flit_to_fields,
    "vdesc": vdesc.vdesc_to_fields,
}


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _check(fmt: str, example: dict[str, Any]) -> None:
    try:
        data, generated = bytes.fromhex(example["hex"]), example["fields"]
        options = FormatOptions(**example["options"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"not a wire:{fmt} input (hex, fields, options): {exc}") from None
    wire = FORMATS[fmt]
    decoded = _outcome(wire.decode, data, options, f"{fmt} schema decoder")
    if generated is not None:  # the bytes encode an object with these fields
        require(not isinstance(decoded, FrameError), f"a valid {fmt} frame did not decode: {decoded}")
        if _json(decoded) != generated:
            raise PropertyFailed(f"decode(encode(x)) != x: the frame decodes to {_json(decoded)}")
    if not isinstance(decoded, FrameError):
        again = wire.encode(_json(decoded), options)
        require(again == data, f"decoding then encoding gave other bytes: {again.hex()}")
    if fmt not in FAST_CODECS:
        return
    schema_decode, fast_decode, fast_encode = FAST_CODECS[fmt]
    schema = _outcome(schema_decode, data, options, f"{fmt} schema decoder")
    fast = _outcome(fast_decode, data, options, f"{fmt} fast decoder")
    if isinstance(schema, FrameError) or isinstance(fast, FrameError):
        require(isinstance(schema, FrameError) and isinstance(fast, FrameError),
                f"the schema and the fast codec disagree: schema {schema!r}, fast codec {fast!r}")
        return
    if fast != schema:
        raise PropertyFailed(f"the fast codec decodes {fast!r}, the schema {schema!r}")
    require(fast_encode(fast, options) == data, "the fast codec encodes the decoded frame to other bytes")


def wire_target(fmt: str) -> FuzzTarget:
    if fmt not in FORMATS:
        raise UsageError(f"no wire format {fmt!r} (known: {', '.join(sorted(FORMATS))})")

    def example(data: bytes, options: FormatOptions, generated: Any = None) -> dict[str, Any]:
        return {"hex": data.hex(), "options": asdict(options),
                "fields": None if generated is None else _json(TO_FIELDS[fmt](generated))}

    frames = oisa_st.encoded_frames(fmt)
    inputs = st.one_of(
        frames.map(lambda f: example(f[1], f[2], f[0])),
        frames.flatmap(lambda f: oisa_st.mutated_bytes(st.just(f[1])).map(lambda m: example(m, f[2]))),
        st.binary(max_size=300).map(lambda b: example(b, FormatOptions())),
    )
    fast = "; the fast codec decodes and encodes them as the schema does" if fmt in FAST_CODECS else ""
    return FuzzTarget(f"wire:{fmt}", f"decode(encode(x)) == x for generated frames, whose fields encode back to the "
                      f"same bytes{fast}; mutated and random bytes decode exactly or raise FrameError", inputs,
                      lambda e: _check(fmt, e))
