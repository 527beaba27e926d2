"""Link encryption, sans-IO: AES-GCM over each data flit's payload, with a MAC that the link
layer checks before it accepts the flit.

What it follows, and where it departs:

* **Cipher and MAC.** AES-256-GCM, as PCIe's Integrity and Data Encryption (IDE, PCIe Base 6.0
  §6.33) uses it, with the MAC cut to 96 bits as IDE's is (``mac_bytes`` = 12; 16 keeps GCM's
  whole tag). The flit header (sequence number, first-message offset) is authenticated as
  associated data; the payload is encrypted. GCM is a counter-mode cipher, so ciphertext is as
  long as plaintext and the flit's payload capacity shrinks by the MAC alone: the bandwidth cost.
* **IV and counter.** The 96-bit IV is a fixed field naming the direction followed by a 64-bit
  invocation counter, NIST SP 800-38D §8.2.1's deterministic construction, which IDE follows
  (a fixed part and a counter that advances with every protected unit). Each new data flit takes
  the next counter value; the receiver derives the value it expects from its own count of flits
  accepted, so nothing of the counter is sent. A replayed flit (the link layer's go-back-N)
  is the stored ciphertext of its first sending, so no counter is ever used twice with one key.
* **Keys.** One key per direction of a link (IDE keys each direction of a stream apart), given by
  whoever builds the link (:mod:`oisa.fabric` derives them from the run's seed). Key exchange
  (IDE's IDE_KM over SPDM) and key refresh are not modelled: the counter would need 2^64 flits to
  wrap, and the endpoint refuses to go past it.
* **Where it departs from IDE.** IDE protects TLPs above the data link layer, and a TLP that fails
  its MAC puts the stream in the Insecure state (it is reported, not retried). Here the MAC is
  checked where the CRC is, and a flit that fails it is refused like a flit with a bad CRC:
  not acknowledged, NAKed and replayed by the sender, so a flit altered on the wire with its CRC
  recomputed, or an old flit slipped into the stream, is detected, dropped and replaced by the
  genuine one, never delivered. That is what UALinkSec aims for on a link of flits (UALink 200G
  1.0 specification, "UALinkSec", as protocol-facts.md summarises it): authenticated flits on a
  link that retries.

What this module must not know: the link's state machine, time, or who holds the keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from oisa.errors import IntegrityError, LinkDownError

__all__ = ["KEY_BYTES", "MAC_SIZES", "FlitCipher", "LinkSecurity"]

KEY_BYTES = 32  # AES-256, as IDE uses
MAC_SIZES = (12, 16)  # IDE's 96-bit MAC; GCM's whole 128-bit tag
_COUNTER_LIMIT = 1 << 64
_FIXED = b"\x80\x00\x00"  # the IV's fixed field, completed by the direction byte (an assumption, see above)


class FlitCipher:
    """AES-GCM for one direction of one link: ``seal`` at the sender, ``open`` at the receiver."""

    def __init__(self, key: bytes, direction: int, mac_bytes: int = 12) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"a link key is {KEY_BYTES} bytes (AES-256), not {len(key)}")
        if mac_bytes not in MAC_SIZES:
            raise ValueError(f"the MAC is one of {MAC_SIZES} bytes, not {mac_bytes}")
        if direction not in (0, 1):
            raise ValueError(f"a link has directions 0 and 1, not {direction}")
        self._algorithm = algorithms.AES(key)
        self._fixed = _FIXED + bytes([direction])
        self.mac_bytes = mac_bytes

    def _iv(self, counter: int) -> bytes:
        if not 0 <= counter < _COUNTER_LIMIT:
            raise LinkDownError("the link's invocation counter is spent: its key must be refreshed")
        return self._fixed + counter.to_bytes(8, "big")

    def seal(self, counter: int, header: bytes, payload: bytes) -> bytes:
        """``payload`` encrypted under invocation ``counter``, then its MAC over ``header`` and it."""
        encryptor = Cipher(self._algorithm, modes.GCM(self._iv(counter))).encryptor()
        encryptor.authenticate_additional_data(header)
        sealed = encryptor.update(payload) + encryptor.finalize()
        return sealed + encryptor.tag[:self.mac_bytes]

    def open(self, counter: int, header: bytes, sealed: bytes) -> bytes:
        """The plaintext of ``sealed``, or IntegrityError if its MAC does not verify."""
        if len(sealed) < self.mac_bytes:
            raise IntegrityError(f"a sealed payload carries a {self.mac_bytes}-byte MAC, got {len(sealed)} bytes",
                                 fmt="oisa-flit", field="payload")
        body, tag = sealed[:-self.mac_bytes], sealed[-self.mac_bytes:]
        mode = modes.GCM(self._iv(counter), tag, min_tag_length=self.mac_bytes)
        decryptor = Cipher(self._algorithm, mode).decryptor()
        decryptor.authenticate_additional_data(header)
        plain = decryptor.update(body)
        try:
            decryptor.finalize()
        except InvalidTag:
            raise IntegrityError(f"MAC mismatch at invocation {counter}", fmt="oisa-flit", field="payload") from None
        return plain


@dataclass(frozen=True)
class LinkSecurity:
    """What one link end encrypts with (``send``) and checks with (``receive``)."""

    send: FlitCipher
    receive: FlitCipher

    @property
    def mac_bytes(self) -> int:
        return self.send.mac_bytes
