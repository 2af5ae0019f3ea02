"""Read an upload just far enough to validate it, without loading pixel data.

:func:`read_context` turns the bytes into an :class:`UploadContext`: plain facts
(which elements exist, how long they are, where the file ends, how the pixel data
is laid out). The checks in :mod:`lib.validation.checks` interpret those facts,
so they stay pure and the reading happens once.

Reading stops at the top-level pixel data element, so elements after it (such as
trailing padding) are not checked. Native pixel data is never read: its length
comes from the element header. Encapsulated pixel data is walked
item header by item header, seeking over each fragment. Top-level elements longer
than :data:`DEFER_SIZE` are skipped, not loaded. Known shortcoming: pydicom reads
values inside sequences in full (``defer_size`` does not reach them), so a huge
element nested in a sequence is loaded; the upload limit bounds it. A streaming
element walker of our own would end that.
"""

from __future__ import annotations

import functools
import io
import struct
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import IO, BinaryIO, NamedTuple, cast

from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.filereader import data_element_generator
from pydicom.tag import BaseTag
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

__all__ = [
    "DEFER_SIZE",
    "SUPPORTED_TRANSFER_SYNTAXES",
    "Attribute",
    "Encoding",
    "Fragments",
    "PixelElement",
    "Truncation",
    "UploadContext",
    "read_context",
]

#: PS3.10 7.1: a 128-byte preamble, then the four bytes ``DICM``.
PREAMBLE_LENGTH = 128
DICM_PREFIX = b"DICM"

#: Element values longer than this are skipped while reading. The checks only
#: look at short values (UIDs are at most 64 bytes, US values 2 bytes).
DEFER_SIZE = 1024

#: PS3.5 7.5 and A.4: the tags that structure encapsulated pixel data.
ITEM_TAG = 0xFFFEE000
SEQUENCE_DELIMITER_TAG = 0xFFFEE0DD
UNDEFINED_LENGTH = 0xFFFFFFFF

#: Stricter than the standard, which sets no limit: a file made of millions of
#: empty items would otherwise keep the walk busy for minutes.
MAX_FRAGMENTS = 1_000_000

#: PS3.5 7.1.2: explicit VRs whose length field is 4 bytes after 2 reserved bytes.
LONG_LENGTH_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR"}
    | {b"UT", b"UV"}
)

PIXEL_DATA_TAGS: Mapping[int, str] = MappingProxyType(
    {
        0x7FE00008: "FloatPixelData",
        0x7FE00009: "DoubleFloatPixelData",
        0x7FE00010: "PixelData",
    }
)


@dataclass(frozen=True)
class Encoding:
    """How a data set is encoded (PS3.5 10)."""

    implicit_vr: bool
    little_endian: bool
    deflated: bool = False
    encapsulated: bool = False


#: The transfer syntaxes the pipeline reads, de-identifies and serves: the
#: native little-endian ones, deflated, and the compressed ones pydicom's pixel
#: handlers decode. Explicit VR Big Endian was retired (PS3.5 A.3) and is absent.
SUPPORTED_TRANSFER_SYNTAXES: Mapping[str, Encoding] = MappingProxyType(
    {
        ImplicitVRLittleEndian: Encoding(implicit_vr=True, little_endian=True),
        ExplicitVRLittleEndian: Encoding(implicit_vr=False, little_endian=True),
        DeflatedExplicitVRLittleEndian: Encoding(False, True, deflated=True),
        **{
            uid: Encoding(False, True, encapsulated=True)
            for uid in (
                JPEGBaseline8Bit,
                JPEGExtended12Bit,
                JPEGLossless,
                JPEGLosslessSV1,
                JPEGLSLossless,
                JPEGLSNearLossless,
                JPEG2000Lossless,
                JPEG2000,
                RLELossless,
                HTJ2KLossless,
                HTJ2KLosslessRPCL,
                HTJ2K,
            )
        },
    }
)

#: Known but unsupported syntaxes that can still be parsed for more findings.
_PARSEABLE_UNSUPPORTED: Mapping[str, Encoding] = MappingProxyType(
    {ExplicitVRBigEndian: Encoding(implicit_vr=False, little_endian=False)}
)


class Attribute(NamedTuple):
    """One top-level element as read: its length and, when short, its bytes.

    ``value`` is ``None`` for sequences and for values longer than
    :data:`DEFER_SIZE`; ``length`` is ``0xFFFFFFFF`` for undefined length.
    A named tuple rather than a dataclass: one is built per element, and
    building tuples is several times cheaper.
    """

    tag: int
    length: int
    value: bytes | None

    @property
    def keyword(self) -> str:
        """The DICOM keyword, or the tag as ``(gggg,eeee)`` when it has none."""
        return element_name(self.tag)


@dataclass(frozen=True)
class Truncation:
    """Where the file ends too early, in words safe for a message."""

    keyword: str | None
    detail: str


@dataclass(frozen=True)
class Fragments:
    """The item structure of encapsulated pixel data (PS3.5 A.4).

    ``defect`` describes the first violation found, or is ``None``.
    """

    offset_table_length: int | None
    fragment_count: int
    defect: str | None


@dataclass(frozen=True)
class PixelElement:
    """The top-level pixel data element, read from its header only.

    ``length`` is ``None`` for undefined length, in which case ``fragments``
    describes the items.
    """

    keyword: str
    length: int | None
    fragments: Fragments | None


@dataclass(frozen=True)
class UploadContext:
    """The facts the checks need about one upload.

    ``read`` is ``False`` when the size alone settled the outcome (empty or too
    large) and nothing was parsed; every other field then keeps its default.
    """

    size: int
    max_upload_bytes: int
    read: bool = False
    has_dicm_prefix: bool = False
    starts_like_data_set: bool = False
    file_meta: Mapping[int, Attribute] | None = None
    file_meta_explicit_vr: bool = True
    file_meta_group_length: tuple[int, int] | None = None
    transfer_syntax_uid: bytes | None = None
    encoding: Encoding | None = None
    encoding_differs_from_transfer_syntax: bool = False
    inflated_size_exceeded: bool = False
    data_set: Mapping[int, Attribute] | None = None
    truncation: Truncation | None = None
    pixel: PixelElement | None = None

    def meta(self, keyword: str) -> Attribute | None:
        """The file meta element named ``keyword``, if present."""
        return _lookup(self.file_meta, keyword)

    def attribute(self, keyword: str) -> Attribute | None:
        """The top-level data set element named ``keyword``, if present."""
        return _lookup(self.data_set, keyword)


def _lookup(elements: Mapping[int, Attribute] | None, keyword: str) -> Attribute | None:
    tag = _tag(keyword)
    if elements is None or tag is None:
        return None
    return elements.get(tag)


@functools.cache
def _tag(keyword: str) -> int | None:
    return tag_for_keyword(keyword)


def element_name(tag: int) -> str:
    """The keyword of ``tag``, or ``(gggg,eeee)`` for private and unknown tags."""
    return keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


class _ElementTracker:
    """A ``stop_when`` callback that remembers the last element header it saw.

    pydicom calls it for every top-level element, positioned at the value, so
    it knows where each value must end without reading it.
    """

    def __init__(self, stream: IO[bytes], stop_tags: frozenset[int] | None) -> None:
        self._stream = stream
        self._stop_tags = stop_tags
        self.last_tag: int | None = None
        self.last_end: int | None = None
        self.stopped_at: int | None = None

    def __call__(self, tag: BaseTag, vr: str | None, length: int) -> bool:
        if self._stop_tags is None:
            stop = tag >> 16 != 0x0002
        else:
            stop = int(tag) in self._stop_tags
        if stop:
            self.stopped_at = int(tag)
            return True
        self.last_tag = int(tag)
        self.last_end = (
            None if length == UNDEFINED_LENGTH else self._stream.tell() + length
        )
        return False


@dataclass(frozen=True)
class _Elements:
    elements: Mapping[int, Attribute]
    stopped_at: int | None
    truncation: Truncation | None


def _read_elements(
    stream: IO[bytes],
    encoding: Encoding,
    data_size: int,
    stop_tags: frozenset[int] | None,
    where: str,
) -> _Elements:
    """Read top-level elements until ``stop_tags`` (``None``: the end of group 2).

    pydicom reports some defects only as warnings; the caller records them, and
    the facts gathered here (value ends against ``data_size``) decide truncation.
    """
    tracker = _ElementTracker(stream, stop_tags)
    elements: dict[int, Attribute] = {}
    truncation: Truncation | None = None
    generator = data_element_generator(
        cast(BinaryIO, stream),
        encoding.implicit_vr,
        encoding.little_endian,
        stop_when=tracker,
        defer_size=DEFER_SIZE,
    )
    try:
        for element in generator:
            elements[int(element.tag)] = _attribute(element)
    except EOFError:
        # pydicom raises this when an undefined-length value has no delimiter.
        truncation = Truncation(
            _keyword(tracker.last_tag),
            f"the file ends in {where}, inside {_described(tracker.last_tag)}, "
            "before the delimiter of its undefined-length value",
        )
    except Exception:
        # Any parser failure on these bytes is a finding (TRUNCATED), not a crash.
        truncation = Truncation(
            _keyword(tracker.last_tag),
            f"{where} cannot be parsed at or after {_described(tracker.last_tag)}",
        )

    if truncation is None and tracker.last_end is not None:
        if tracker.last_end > data_size:
            truncation = Truncation(
                _keyword(tracker.last_tag),
                f"the file ends {tracker.last_end - data_size} bytes before the end "
                f"of the value of {_described(tracker.last_tag)}, in {where}",
            )
        elif tracker.stopped_at is None and tracker.last_end < data_size:
            truncation = Truncation(
                None,
                f"the last {data_size - tracker.last_end} bytes of {where} are too "
                "few to hold an element header",
            )
    return _Elements(MappingProxyType(elements), tracker.stopped_at, truncation)


def _keyword(tag: int | None) -> str | None:
    return None if tag is None else element_name(tag)


def _described(tag: int | None) -> str:
    return "its first element" if tag is None else element_name(tag)


def _attribute(element: RawDataElement | DataElement) -> Attribute:
    if isinstance(element, RawDataElement):
        value = element.value if isinstance(element.value, bytes) else None
        return Attribute(int(element.tag), element.length, value)
    return Attribute(int(element.tag), UNDEFINED_LENGTH, None)


def _looks_explicit(header: bytes) -> bool:
    """PS3.5 7.1.2: in explicit VR the two bytes after the tag are capitals."""
    return len(header) >= 6 and all(0x41 <= byte <= 0x5A for byte in header[4:6])


def _peek(stream: IO[bytes], position: int, length: int) -> bytes:
    stream.seek(position)
    data = stream.read(length)
    stream.seek(position)
    return data


def _uid_text(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        return value.rstrip(b"\x00 ").decode("ascii")
    except UnicodeDecodeError:
        return None


def _inflate(stream: IO[bytes], limit: int) -> bytes | None:
    """Inflate the rest of ``stream`` (PS3.5 A.5), or ``None`` past ``limit``.

    Bounded because a few kilobytes of deflate can expand to gigabytes.

    Raises
    ------
    zlib.error
        When the stream is not valid deflate or ends early.
    """
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    output = bytearray()
    while chunk := stream.read(1 << 20):
        output += inflater.decompress(chunk, limit + 1 - len(output))
        if len(output) > limit or inflater.unconsumed_tail:
            return None
    output += inflater.flush()
    if not inflater.eof:
        raise zlib.error("deflate stream ends early")
    return bytes(output) if len(output) <= limit else None


def _read_pixel_element(
    stream: IO[bytes], start: int, data_size: int, encoding: Encoding, tag: int
) -> tuple[PixelElement, Truncation | None]:
    """Read the header of the pixel data element at ``start`` (PS3.5 7.1)."""
    keyword = PIXEL_DATA_TAGS[tag]
    endian = "<" if encoding.little_endian else ">"
    header = _peek(stream, start, 12)
    if len(header) < 12 and (len(header) < 8 or header[4:6] in LONG_LENGTH_VRS):
        return PixelElement(keyword, 0, None), Truncation(
            keyword, f"the file ends inside the header of {keyword}"
        )
    if encoding.implicit_vr or not _looks_explicit(header):
        (length,) = struct.unpack(endian + "L", header[4:8])
        value_start = start + 8
    elif header[4:6] in LONG_LENGTH_VRS:
        (length,) = struct.unpack(endian + "L", header[8:12])
        value_start = start + 12
    else:
        (length,) = struct.unpack(endian + "H", header[6:8])
        value_start = start + 8

    if length == UNDEFINED_LENGTH:
        fragments = _scan_fragments(stream, value_start, data_size, endian)
        return PixelElement(keyword, None, fragments), None
    if value_start + length > data_size:
        return PixelElement(keyword, length, None), Truncation(
            keyword,
            f"the file ends {value_start + length - data_size} bytes before the end "
            f"of {keyword}, which declares {length} bytes",
        )
    return PixelElement(keyword, length, None), None


def _scan_fragments(
    stream: IO[bytes], position: int, data_size: int, endian: str
) -> Fragments:
    """Walk the items of encapsulated pixel data by their headers (PS3.5 A.4).

    The first item is the Basic Offset Table, possibly empty; each further item
    is a fragment; a Sequence Delimitation Item ends the value.
    """
    offset_table_length: int | None = None
    fragment_count = 0
    index = 0
    defect: str | None
    header_format = endian + "HHL"
    while True:
        header = _peek(stream, position, 8)
        if len(header) < 8:
            defect = (
                "the file ends before the Sequence Delimitation Item (FFFE,E0DD) "
                f"after {fragment_count} fragments"
            )
            break
        group, element, length = struct.unpack(header_format, header)
        tag = group << 16 | element
        position += 8
        if tag == SEQUENCE_DELIMITER_TAG:
            defect = None if index else "there is no Basic Offset Table item"
            break
        if tag != ITEM_TAG:
            defect = (
                f"item {index} has tag ({group:04X},{element:04X}) where the Item "
                "tag (FFFE,E000) belongs"
            )
            break
        if length == UNDEFINED_LENGTH:
            defect = f"item {index} has undefined length"
            break
        if position + length > data_size:
            defect = (
                f"item {index} declares {length} bytes but only "
                f"{data_size - position} remain in the file"
            )
            break

        if index == 0:
            offset_table_length = length
            if length % 4:
                defect = (
                    f"the Basic Offset Table is {length} bytes long, not a "
                    "multiple of 4"
                )
                break
            # The first offset is always 0 (PS3.5 A.4); anything else means the
            # writer left out the table and this item is already a fragment.
            if length and _peek(stream, position, 4) != b"\x00\x00\x00\x00":
                offset_table_length = None
                defect = "the first item is a fragment, not a Basic Offset Table"
                break
        else:
            fragment_count += 1
            if fragment_count > MAX_FRAGMENTS:
                defect = f"there are more than {MAX_FRAGMENTS} fragments"
                break
        position += length
        index += 1
    return Fragments(offset_table_length, fragment_count, defect)


def read_context(stream: IO[bytes], size: int, max_upload_bytes: int) -> UploadContext:
    """Read the facts the checks need from ``stream``.

    Parameters
    ----------
    stream : binary file object
        Seekable, holding exactly ``size`` bytes of the upload.
    size : int
        The upload's length in bytes.
    max_upload_bytes : int
        The upload limit; larger uploads are not parsed at all.

    Returns
    -------
    UploadContext
        Never raises for malformed bytes: defects become facts in the context.
        pydicom's warnings about the bytes are silenced here, because they quote
        values; the checks report the same defects without them.
    """
    if size <= 0 or size > max_upload_bytes:
        return UploadContext(size, max_upload_bytes)
    # Known shortcoming: catch_warnings swaps process-wide state, so with several
    # threads validating at once a warning from another thread may be swallowed
    # or escape. Ends when pydicom reports parse defects without warnings (or on
    # Python 3.14's context-local warnings).
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        return _read(stream, size, max_upload_bytes)


def _read(stream: IO[bytes], size: int, max_upload_bytes: int) -> UploadContext:
    context = UploadContext(size, max_upload_bytes, read=True)

    # PS3.10 7.1: preamble and prefix; without them only a bare data set
    # (starting with group 0002 or 0008) is worth parsing.
    head = _peek(stream, 0, PREAMBLE_LENGTH + len(DICM_PREFIX))
    has_prefix = head[PREAMBLE_LENGTH:] == DICM_PREFIX
    position = len(head) if has_prefix else 0
    first = _peek(stream, position, 6)
    first_group = struct.unpack("<H", first[:2])[0] if len(first) >= 2 else None
    if not has_prefix and first_group not in (0x0002, 0x0008):
        return context
    context = replace(context, has_dicm_prefix=has_prefix, starts_like_data_set=True)

    # PS3.10 7.1: the File Meta Information, always Explicit VR Little Endian.
    if first_group == 0x0002:
        meta_start = position
        meta = _read_elements(
            stream, Encoding(False, True), size, None, "the File Meta Information"
        )
        if meta.truncation is not None:
            return replace(context, truncation=meta.truncation)
        position = stream.tell()
        transfer_syntax = meta.elements.get(0x00020010)
        context = replace(
            context,
            file_meta=meta.elements,
            file_meta_explicit_vr=_looks_explicit(first),
            file_meta_group_length=_group_length(meta.elements, position - meta_start),
            transfer_syntax_uid=None
            if transfer_syntax is None
            else transfer_syntax.value,
        )

    # The encoding the transfer syntax declares, checked against the first
    # element; unknown syntaxes are read as the bytes look, as pydicom does.
    uid = _uid_text(context.transfer_syntax_uid) or ""
    declared = SUPPORTED_TRANSFER_SYNTAXES.get(uid) or _PARSEABLE_UNSUPPORTED.get(uid)
    observed_explicit = _looks_explicit(_peek(stream, position, 6))
    encoding = declared or Encoding(not observed_explicit, little_endian=True)
    if not encoding.deflated and encoding.implicit_vr == observed_explicit:
        encoding = replace(encoding, implicit_vr=not observed_explicit)
        context = replace(context, encoding_differs_from_transfer_syntax=True)
    context = replace(context, encoding=encoding)

    # PS3.5 A.5: a deflated data set is read from its inflated copy.
    data_stream: IO[bytes] = stream
    data_size = size
    if encoding.deflated:
        stream.seek(position)
        try:
            inflated = _inflate(stream, max_upload_bytes)
        except zlib.error:
            truncation = Truncation(None, "the deflated data set cannot be inflated")
            return replace(context, truncation=truncation)
        if inflated is None:
            return replace(context, inflated_size_exceeded=True)
        data_stream, data_size, position = io.BytesIO(inflated), len(inflated), 0

    # The data set up to the pixel data, then the pixel data element's header.
    data_stream.seek(position)
    data_set = _read_elements(
        data_stream, encoding, data_size, frozenset(PIXEL_DATA_TAGS), "the data set"
    )
    context = replace(
        context, data_set=data_set.elements, truncation=data_set.truncation
    )
    if data_set.stopped_at is not None:
        pixel, pixel_truncation = _read_pixel_element(
            data_stream, data_stream.tell(), data_size, encoding, data_set.stopped_at
        )
        context = replace(context, pixel=pixel, truncation=pixel_truncation)
    return context


def _group_length(
    elements: Mapping[int, Attribute], actual: int
) -> tuple[int, int] | None:
    """(declared, actual) File Meta Information Group Length, PS3.10 7.1.

    The value counts the bytes after the 12-byte (0002,0000) element itself.
    """
    element = elements.get(0x00020000)
    if element is None or element.value is None or len(element.value) != 4:
        return None
    (declared,) = struct.unpack("<L", element.value)
    return declared, actual - 12
