"""Under random tenants, windows, partitions and faults, and adversarial traffic (random
addresses, window edges, spoofed source IDs), no tenant reads or writes a byte outside its
grants, and every spoofed write is dropped and counted (issue 22, item 5)."""

import numpy as np
import pytest
from hypothesis import given, settings

from oisa.errors import VerificationError
from oisa.testing._isolation import check_case, isolation_cases
from oisa.workload.isolation import Attempt, judge


@settings(max_examples=max(4, settings.default.max_examples // 10), deadline=None)
@given(isolation_cases(max_attempts=8))
def test_no_tenant_touches_a_byte_outside_its_grants(case):
    check_case(case)


def test_the_judge_catches_each_kind_of_breach():
    granted = np.array([True, True, False, False])
    write = Attempt("write", 0, 1, 0x100, 4)
    assert judge(write, granted, b"\0\0\0\0", b"ab\0\0", b"abcd", ok=True) is None  # granted half landed
    assert "changed outside" in judge(write, granted, b"\0\0\0\0", b"abc\0", b"abcd", ok=False)
    assert "did not land" in judge(write, np.ones(4, bool), b"\0\0\0\0", b"ab\0\0", b"abcd", ok=True)
    assert "reported failure" in judge(write, np.ones(4, bool), b"\0" * 4, b"abcd", b"abcd", ok=False)
    assert judge(write, np.ones(4, bool), b"\0" * 4, b"abcd", b"abcd", ok=False, confirmable=False) is None
    read = Attempt("read", 0, 1, 0x100, 4)
    assert "returned data" in judge(read, granted, b"data", b"data", b"", ok=False, landing_before=b"\0" * 4,
                                    landing_after=b"da\0\0")
    assert "returned data" in judge(read, granted, b"data", b"data", b"", ok=True, landing_before=b"\0" * 4,
                                    landing_after=b"\0" * 4)
    assert "other bytes" in judge(read, np.ones(4, bool), b"data", b"data", b"", ok=True, landing_after=b"dat\0")
    spoof = Attempt("spoof", 0, 1, 0x100, 4, claimed=2)
    assert "changed outside" in judge(spoof, np.zeros(4, bool), b"\0" * 4, b"\0\0\0x", b"abcd", ok=False)


def test_a_breach_found_is_reported_as_a_verification_error(monkeypatch):
    """With the destination's window check switched off, the property finds the hole."""
    from oisa.device import isolation

    monkeypatch.setattr(isolation.Policy, "permits", lambda self, *args, **kwargs: True)
    case = {"fabric": "mesh-8", "tenants": {"t0": [0, 1]}, "windows": [], "partitions": None, "faults": None,
            "attempts": [["write", 0, 1, 0x1000, 64, None]]}
    with pytest.raises(VerificationError, match="changed outside the writer's grants"):
        check_case(case)
