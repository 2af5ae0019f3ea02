"""A zero-copy parser for DICOM datasets (PS3.5 7).

Elements are parsed into a light tree whose values are ``memoryview`` slices of
the input, so pixel data and every kept value are never copied or decoded.
Explicit and implicit VR little endian, explicit VR big endian (retired) and
the deflated syntax (after inflation) share this code; only the ``struct``
byte order and the VR source differ.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from pydicom.datadict import DicomDictionary, RepeatersDictionary

from lib.deid.errors import DeidUnreadableError

__all__ = [
    "ITEM",
    "ITEM_DELIMITATION",
    "LONG_VRS",
    "PIXEL_DATA",
    "SEQUENCE_DELIMITATION",
    "Element",
    "Encoding",
    "implicit_vr",
    "parse_dataset",
]

ITEM: Final = 0xFFFEE000
ITEM_DELIMITATION: Final = 0xFFFEE00D
SEQUENCE_DELIMITATION: Final = 0xFFFEE0DD
PIXEL_DATA: Final = 0x7FE00010
UNDEFINED_LENGTH: Final = 0xFFFFFFFF

# VRs with a 2-byte reserved field and a 4-byte length in explicit VR
# (PS3.5 Table 7.1-1).
LONG_VRS: Final = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)
_KNOWN_VRS: Final = LONG_VRS | frozenset(
    {
        "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT",
        "PN", "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US",
    }
)  # fmt: skip


def _dictionary_vrs() -> dict[int, str]:
    """Tag -> VR for implicit VR parsing; ambiguous VRs take their first choice."""
    vrs = {tag: entry[0].split(" or ")[0] for tag, entry in DicomDictionary.items()}
    for mask, entry in RepeatersDictionary.items():
        # Only the 50xx/60xx repeating groups matter here (PS3.5 7.6).
        if mask.startswith(("50xx", "60xx")) and "x" not in mask[4:]:
            base = int(mask.replace("x", "0"), 16)
            for group in range(0, 0x20, 2):
                vrs[base + (group << 16)] = entry[0].split(" or ")[0]
    return vrs


_IMPLICIT_VRS: Final = _dictionary_vrs()


def implicit_vr(tag: int) -> str:
    """The VR of ``tag`` from the data dictionary (PS3.6), ``UN`` if unknown."""
    if tag & 0xFFFF == 0:
        return "UL"  # group length (PS3.5 7.2)
    return _IMPLICIT_VRS.get(tag, "UN")


@dataclass(frozen=True)
class Encoding:
    """How a dataset is encoded: VR explicitness and byte order."""

    explicit: bool
    little: bool

    @property
    def prefix(self) -> str:
        return "<" if self.little else ">"


IMPLICIT_LITTLE: Final = Encoding(explicit=False, little=True)


class Element:
    """One parsed data element.

    Attributes
    ----------
    tag : int
        ``group << 16 | element``.
    vr : str
        The VR from the stream (explicit) or the dictionary (implicit); a UN
        element of a known public attribute gets its dictionary VR (PS3.5 6.2.2).
    value : memoryview
        The value bytes; for encapsulated pixel data the item stream up to and
        including the Sequence Delimitation Item.
    items : list[list[Element]] | None
        The parsed items of a sequence.
    undefined : bool
        Encoded with undefined length (sequences, encapsulated pixel data).
    encoding : Encoding
        Encoding of the value bytes (UN sequences are implicit little endian).
    offset, end : int
        Where the whole element (header and value) starts and ends in the
        buffer, for copying a kept element as it is.
    raw : bool
        The header as found can be copied: the VR was not re-derived.
    """

    __slots__ = (
        "encoding",
        "end",
        "items",
        "offset",
        "raw",
        "tag",
        "undefined",
        "value",
        "vr",
    )

    def __init__(
        self,
        tag: int,
        vr: str,
        value: memoryview,
        items: list[list[Element]] | None,
        undefined: bool,
        encoding: Encoding,
        offset: int = 0,
        end: int = 0,
        raw: bool = False,
    ) -> None:
        self.tag = tag
        self.vr = vr
        self.value = value
        self.items = items
        self.undefined = undefined
        self.encoding = encoding
        self.offset = offset
        self.end = end
        self.raw = raw

    def __repr__(self) -> str:
        # No value: it may be patient data.
        return f"Element(({self.tag >> 16:04X},{self.tag & 0xFFFF:04X}) {self.vr})"


class _Parser:
    def __init__(self, data: memoryview, encoding: Encoding) -> None:
        self.data = data
        self.encoding = encoding
        prefix = encoding.prefix
        self.tag_length = struct.Struct(prefix + "HHL")
        self.short = struct.Struct(prefix + "HH2sH")
        self.long_length = struct.Struct(prefix + "L")

    def dataset(self, pos: int, end: int, stop: int) -> tuple[list[Element], int]:
        """Parse elements from ``pos`` until ``end`` or the ``stop`` delimiter."""
        data = self.data
        elements: list[Element] = []
        explicit = self.encoding.explicit
        tag_length = self.tag_length
        short = self.short
        while pos < end:
            if pos + 8 > end:
                raise DeidUnreadableError(f"truncated element header at byte {pos}")
            group, number, length = tag_length.unpack_from(data, pos)
            tag = group << 16 | number
            if group == 0xFFFE:
                if tag == stop:
                    return elements, pos + 8
                raise DeidUnreadableError(
                    f"unexpected item tag ({group:04X},{number:04X}) at byte {pos}"
                )
            if explicit:
                _, _, raw_vr, short_length = short.unpack_from(data, pos)
                try:
                    vr = raw_vr.decode("ascii")
                except UnicodeDecodeError:
                    vr = "??"
                if vr in LONG_VRS:
                    start = pos + 12
                    if start > end:
                        raise DeidUnreadableError(
                            f"truncated element header at byte {pos}"
                        )
                    (length,) = self.long_length.unpack_from(data, pos + 8)
                elif vr in _KNOWN_VRS:
                    start = pos + 8
                    length = short_length
                else:
                    raise DeidUnreadableError(
                        f"invalid VR in element ({group:04X},{number:04X})"
                    )
            else:
                start = pos + 8
                vr = implicit_vr(tag)
            element, pos = self._element(tag, vr, pos, start, length, end)
            elements.append(element)
        if stop != 0:
            raise DeidUnreadableError("item not delimited before its end")
        return elements, pos

    def _element(
        self, tag: int, vr: str, offset: int, start: int, length: int, end: int
    ) -> tuple[Element, int]:
        data = self.data
        if length == UNDEFINED_LENGTH:
            if vr in ("OB", "OW", "UN") and tag == PIXEL_DATA:
                stop = self._fragments_end(start, end)
                return Element(
                    tag, "OB", data[start:stop], None, True, self.encoding
                ), stop
            if vr == "UN" or (not self.encoding.explicit and vr != "SQ"):
                # PS3.5 6.2.2: a UN sequence of undefined length is encoded in
                # implicit VR little endian, whatever the transfer syntax.
                return self._un_sequence(tag, start, end)
            if vr != "SQ":
                raise DeidUnreadableError(
                    f"undefined length on ({tag >> 16:04X},{tag & 0xFFFF:04X}) {vr}"
                )
            items, stop = self._items(start, end, undefined=True)
            return Element(tag, vr, data[start:start], items, True, self.encoding), stop

        stop = start + length
        if stop > end:
            raise DeidUnreadableError(
                f"value of ({tag >> 16:04X},{tag & 0xFFFF:04X}) runs past the end"
            )
        if vr == "SQ":
            items, _ = self._items(start, stop, undefined=False)
            return Element(tag, vr, data[start:start], items, False, self.encoding), (
                stop
            )
        if vr == "UN" and tag & 0x10000 == 0:
            known = implicit_vr(tag)
            if known == "SQ":
                parser = _Parser(data, IMPLICIT_LITTLE)
                items, _ = parser._items(start, stop, False)
                return Element(
                    tag, "SQ", data[start:start], items, False, IMPLICIT_LITTLE
                ), stop
            if known != "UN" and self.encoding.little:
                # UN values are little endian (PS3.5 6.2.2): same bytes as the
                # real VR in a little endian syntax.
                return Element(
                    tag, known, data[start:stop], None, False, self.encoding
                ), stop
        return Element(
            tag, vr, data[start:stop], None, False, self.encoding, offset, stop, True
        ), stop

    def _un_sequence(self, tag: int, start: int, end: int) -> tuple[Element, int]:
        parser = _Parser(self.data, IMPLICIT_LITTLE)
        items, stop = parser._items(start, end, undefined=True)
        vr = "SQ" if tag & 0x10000 == 0 else "UN"
        return Element(
            tag, vr, self.data[start:start], items, True, IMPLICIT_LITTLE
        ), stop

    def _items(
        self, pos: int, end: int, undefined: bool
    ) -> tuple[list[list[Element]], int]:
        items: list[list[Element]] = []
        tag_length = self.tag_length
        while pos < end:
            if pos + 8 > end:
                raise DeidUnreadableError(f"truncated item header at byte {pos}")
            group, number, length = tag_length.unpack_from(self.data, pos)
            tag = group << 16 | number
            if tag == SEQUENCE_DELIMITATION:
                return items, pos + 8
            if tag != ITEM:
                raise DeidUnreadableError(
                    f"expected an item, found ({group:04X},{number:04X}) at byte {pos}"
                )
            if length == UNDEFINED_LENGTH:
                item, pos = self.dataset(pos + 8, end, ITEM_DELIMITATION)
            else:
                if pos + 8 + length > end:
                    raise DeidUnreadableError(f"item at byte {pos} runs past the end")
                item, _ = self.dataset(pos + 8, pos + 8 + length, 0)
                pos += 8 + length
            items.append(item)
        if undefined:
            raise DeidUnreadableError("sequence not delimited before end")
        return items, pos

    def _fragments_end(self, pos: int, end: int) -> int:
        """End of encapsulated pixel data: after its Sequence Delimitation Item."""
        tag_length = self.tag_length
        while pos + 8 <= end:
            group, number, length = tag_length.unpack_from(self.data, pos)
            tag = group << 16 | number
            if tag == SEQUENCE_DELIMITATION:
                return pos + 8
            if tag != ITEM or length == UNDEFINED_LENGTH or pos + 8 + length > end:
                raise DeidUnreadableError("malformed encapsulated Pixel Data fragment")
            pos += 8 + length
        raise DeidUnreadableError("encapsulated Pixel Data not delimited before end")


def parse_dataset(data: memoryview, start: int, encoding: Encoding) -> list[Element]:
    """Parse the dataset in ``data[start:]``.

    Raises
    ------
    DeidUnreadableError
        The stream is truncated or malformed; the message gives the tag and the
        byte offset, never a value.
    """
    elements, _ = _Parser(data, encoding).dataset(start, len(data), 0)
    return elements
