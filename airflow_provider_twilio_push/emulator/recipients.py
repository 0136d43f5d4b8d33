"""A send's recipients, stored compactly: a campaign keeps a million of them in memory.

Every address (the device token, or the userId of a user recipient) lives in one string, with
an array of where each ends and a byte of flags each (its provider, whether it is a user), instead
of an object per recipient.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from itertools import accumulate

APN = 1
USER = 2


class Recipients:
    __slots__ = ("_blob", "_ends", "_flags")

    def __init__(self, addresses: Sequence[str], flags: bytes | bytearray) -> None:
        if len(addresses) != len(flags):
            raise ValueError("one flags byte per address")
        self._blob = "".join(addresses)
        self._ends = array("I", accumulate(map(len, addresses)))
        self._flags = bytes(flags)

    def __len__(self) -> int:
        return len(self._flags)

    def address(self, index: int) -> str:
        """The device token, or the userId of a user recipient."""
        ends = self._ends
        return self._blob[ends[index - 1] if index else 0 : ends[index]]

    def provider(self, index: int) -> str:
        return "APN" if self._flags[index] & APN else "FCM"

    def is_user(self, index: int) -> bool:
        return bool(self._flags[index] & USER)

    def token(self, index: int) -> str | None:
        return None if self._flags[index] & USER else self.address(index)

    def user_id(self, index: int) -> str | None:
        return self.address(index) if self._flags[index] & USER else None

    def addresses(self) -> Iterator[str]:
        blob, start = self._blob, 0
        for end in self._ends:
            yield blob[start:end]
            start = end

    def has_user(self, user_id: str) -> bool:
        if user_id not in self._blob or (USER not in self._flags and USER | APN not in self._flags):
            return False
        return any(self.user_id(i) == user_id for i in range(len(self)))
