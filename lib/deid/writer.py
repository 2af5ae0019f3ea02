"""Encoding elements back into a transfer syntax (PS3.5 7.1, 7.5).

Output goes into a list of chunks (bytes or memoryview slices of the input) that
is joined once at the end, so kept values and pixel data are copied exactly
once. Sequences and items are written with undefined length (PS3.5 7.5.1), which
spares recomputing lengths when their content changes.
"""

from __future__ import annotations

import struct
from typing import Final

from lib.deid.parser import (
    ITEM,
    ITEM_DELIMITATION,
    LONG_VRS,
    SEQUENCE_DELIMITATION,
    Encoding,
)

__all__ = ["Chunks", "Writer", "pad"]

Chunks = list[bytes | memoryview]

UNDEFINED_LENGTH: Final = 0xFFFFFFFF
MAX_SHORT_LENGTH: Final = 0xFFFF
# PS3.5 6.2: UI values are padded with NUL, OB/UN/binary with NUL, text with space.
_NUL_PADDED: Final = frozenset({"UI", "OB", "UN"})


def pad(value: bytes, vr: str) -> bytes:
    """Pad ``value`` to even length as PS3.5 6.2 requires for ``vr``."""
    if len(value) % 2 == 0:
        return value
    return value + (b"\0" if vr in _NUL_PADDED else b" ")


class Writer:
    """Writes elements in one encoding.

    Parameters
    ----------
    encoding : Encoding
        The output's explicitness and byte order (that of the input).
    """

    def __init__(self, encoding: Encoding) -> None:
        self.encoding = encoding
        prefix = encoding.prefix
        self._tag_length = struct.Struct(prefix + "HHL")
        self._short = struct.Struct(prefix + "HH2sH")
        self._long = struct.Struct(prefix + "HH2s2xL")
        self.item_start = self._tag_length.pack(0xFFFE, ITEM & 0xFFFF, UNDEFINED_LENGTH)
        self.item_end = self._tag_length.pack(0xFFFE, ITEM_DELIMITATION & 0xFFFF, 0)
        self.sequence_end = self._tag_length.pack(
            0xFFFE, SEQUENCE_DELIMITATION & 0xFFFF, 0
        )

    def header(self, tag: int, vr: str, length: int) -> bytes:
        """The element header for ``tag`` with a value of ``length`` bytes."""
        if not self.encoding.explicit:
            return self._tag_length.pack(tag >> 16, tag & 0xFFFF, length)
        if vr in LONG_VRS:
            return self._long.pack(tag >> 16, tag & 0xFFFF, vr.encode(), length)
        if length > MAX_SHORT_LENGTH:
            # A value too long for its VR's 2-byte length (possible only for values
            # parsed from implicit VR): keep the bytes, declare them UN.
            return self._long.pack(tag >> 16, tag & 0xFFFF, b"UN", length)
        return self._short.pack(tag >> 16, tag & 0xFFFF, vr.encode(), length)

    def element(
        self, out: Chunks, tag: int, vr: str, value: bytes | memoryview
    ) -> None:
        """Append one non-sequence element; ``value`` must have even length."""
        out.append(self.header(tag, vr, len(value)))
        if value:
            out.append(value)

    def sequence_start(self, out: Chunks, tag: int, vr: str = "SQ") -> None:
        """Append a sequence header of undefined length."""
        out.append(self.header(tag, vr, UNDEFINED_LENGTH))

    def encapsulated(self, out: Chunks, tag: int, stream: memoryview) -> None:
        """Append encapsulated pixel data: its fragments copied as they are."""
        out.append(self.header(tag, "OB", UNDEFINED_LENGTH))
        out.append(stream)
