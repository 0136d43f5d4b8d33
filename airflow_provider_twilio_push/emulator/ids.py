"""Deterministic ids: ULID-like, lower-case Crockford base32, derived from the seed.

Operation ids carry the operation's sequence number as their time part (in ms after 2024-01-15
09:30:00Z), so they are the same from run to run and sort in creation order. Notification ids
carry their operation's sequence number too, and their recipient index scrambled by an invertible
multiplication as the random part, so an id leads back to its notification.
"""

from __future__ import annotations

import hashlib

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
ID_EPOCH_MS = 1_705_311_000_000  # 2024-01-15T09:30:00Z
ID_BITS = 2**80
ID_MULTIPLIER = 0x9E3779B97F4A7C15F39D  # odd, so invertible modulo 2**80
ID_INVERSE = pow(ID_MULTIPLIER, -1, ID_BITS)


def ulid(timestamp_ms: int, randomness: int) -> str:
    """26 lower-case Crockford base32 characters: 48 bits of time, then 80 bits of randomness."""
    value = (timestamp_ms & (2**48 - 1)) << 80 | (randomness & (ID_BITS - 1))
    chars = []
    for _ in range(26):
        chars.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def parse_ulid(text: str) -> tuple[int, int] | None:
    """``(timestamp_ms, randomness)`` of 26 lower-case Crockford base32 characters; None otherwise."""
    if len(text) != 26:
        return None
    value = 0
    for char in text:
        digit = CROCKFORD.find(char)
        if digit < 0:
            return None
        value = value << 5 | digit
    return value >> 80, value & (ID_BITS - 1)


def stable_hash(*parts: object) -> int:
    """An 80-bit hash of the parts that does not change between runs (unlike ``hash``)."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=10).digest()
    return int.from_bytes(digest, "big")


def default_credential(seed: int, provider: str) -> str:
    """The id of the emulated App's credential for ``provider``."""
    return "comms_credential_" + ulid(ID_EPOCH_MS, stable_hash(seed, "credential", provider))
