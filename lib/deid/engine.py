"""The de-identification engine: Part 10 bytes in, de-identified Part 10 bytes out.

The engine never builds a pydicom dataset. It parses the stream into a light tree
of ``memoryview`` slices (``parser``), decides each element from the profile's
action table (``actions``), and writes the result as a list of chunks
(``writer``): kept values and pixel data are copied once, untouched, and only
replaced values are encoded. This is what makes it several times faster than a
pydicom read and write of the same bytes.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import BinaryIO, Final, Protocol

from pydicom.uid import UID_dictionary

from lib.deid.actions import TEXT_VRS, Action, ActionTable
from lib.deid.dates import shift_date_value
from lib.deid.errors import (
    DeidBurnedInAnnotationError,
    DeidMissingAttributeError,
    DeidUnreadableError,
    DeidUnsupportedObjectError,
    DeidUnsupportedTransferSyntaxError,
)
from lib.deid.keys import DeidKey
from lib.deid.parser import PIXEL_DATA, Element, Encoding, parse_dataset
from lib.deid.private import SAFE_PRIVATE
from lib.deid.profiles import PIXEL_OPTIONS, Profile
from lib.deid.pseudonyms import Pseudonymizer
from lib.deid.table import EDITION, OPTION_CODES
from lib.deid.text import CharacterSet, IdentifierScrubber, identifier_tokens
from lib.deid.writer import Chunks, Writer, pad

__all__ = [
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
    "UNCLEANABLE_SOP_CLASSES",
    "DeidResult",
    "Deidentifier",
    "PixelCleaner",
]

PREAMBLE_LENGTH: Final = 128
MAGIC: Final = b"DICM"

# Implementation Class UID of Medlake (PS3.7 D.3.3.2), under 2.25 from a fixed
# UUID so it needs no registered root.
IMPLEMENTATION_CLASS_UID: Final = "2.25.215628213735963870658542496658370520937"
IMPLEMENTATION_VERSION_NAME: Final = "MEDLAKE_DEID_1"

IMPLICIT_VR_LITTLE_ENDIAN: Final = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN: Final = "1.2.840.10008.1.2.1"
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN: Final = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BIG_ENDIAN: Final = "1.2.840.10008.1.2.2"

# SOP classes whose content the header rules cannot clean: documents and models
# whose payload is free-form (PS3.3 A.45, A.85), and DICOMDIR whose record
# offsets would break on rewriting (PS3.10 8).
UNCLEANABLE_SOP_CLASSES: Final = MappingProxyType(
    {
        "1.2.840.10008.5.1.4.1.1.104.1": "Encapsulated PDF Storage",
        "1.2.840.10008.5.1.4.1.1.104.2": "Encapsulated CDA Storage",
        "1.2.840.10008.5.1.4.1.1.104.3": "Encapsulated STL Storage",
        "1.2.840.10008.5.1.4.1.1.104.4": "Encapsulated OBJ Storage",
        "1.2.840.10008.5.1.4.1.1.104.5": "Encapsulated MTL Storage",
        "1.2.840.10008.1.3.10": "Media Storage Directory Storage",
    }
)

SPECIFIC_CHARACTER_SET: Final = 0x00080005
SOP_CLASS_UID: Final = 0x00080016
SOP_INSTANCE_UID: Final = 0x00080018
STUDY_DATE: Final = 0x00080020
MODALITY: Final = 0x00080060
PATIENT_NAME: Final = 0x00100010
PATIENT_ID: Final = 0x00100020
PATIENT_BIRTH_DATE: Final = 0x00100030
BODY_PART_EXAMINED: Final = 0x00180015
STUDY_INSTANCE_UID: Final = 0x0020000D
SERIES_INSTANCE_UID: Final = 0x0020000E
NUMBER_OF_FRAMES: Final = 0x00280008
ROWS: Final = 0x00280010
COLUMNS: Final = 0x00280011
BURNED_IN_ANNOTATION: Final = 0x00280301

_META_FILE_VERSION: Final = 0x00020001
_META_SOP_CLASS: Final = 0x00020002
_META_SOP_INSTANCE: Final = 0x00020003
_META_TRANSFER_SYNTAX: Final = 0x00020010

_EXPLICIT_LITTLE: Final = Encoding(explicit=True, little=True)
_META_WRITER: Final = Writer(_EXPLICIT_LITTLE)
_META_SHORT = struct.Struct("<HH2sH")
_META_LONG = struct.Struct("<L")
_DEFLATE_LEVEL: Final = 6
_IOV_MAX: Final = 1024  # POSIX minimum for writev

# A dummy value valid for each VR (PS3.15 E.3: "D").
_DUMMY_TEXT: Final = b"DEIDENTIFIED"
_DUMMIES: Final = MappingProxyType(
    {
        "AE": _DUMMY_TEXT,
        "AS": b"000Y",
        "AT": b"\0\0\0\0",
        "CS": _DUMMY_TEXT,
        "DA": b"19000101",
        "DS": b"0 ",
        "DT": b"19000101000000",
        "FD": b"\0" * 8,
        "FL": b"\0" * 4,
        "IS": b"0 ",
        "SL": b"\0" * 4,
        "SS": b"\0" * 2,
        "SV": b"\0" * 8,
        "TM": b"000000",
        "UL": b"\0" * 4,
        "UR": b"urn:x-medlake:deidentified ",
        "US": b"\0" * 2,
        "UV": b"\0" * 8,
    }
)
_DUMMY_BINARY: Final = b"\0\0"


class PixelCleaner(Protocol):
    """The seam for the Clean Pixel Data Option (PS3.15 E.3.1).

    The inference stage implements it; header de-identification never decodes
    pixels itself. ``attributes`` holds the pixel description (Rows, Columns,
    BitsAllocated, ...) by keyword; the return value replaces the Pixel Data
    value as it is (native or encapsulated, in the input's transfer syntax).
    """

    def clean_pixel_data(
        self,
        pixel_data: memoryview,
        *,
        transfer_syntax_uid: str,
        attributes: Mapping[str, object],
    ) -> bytes: ...


@dataclass(frozen=True)
class DeidResult:
    """A de-identified instance and what the lake needs to file it.

    Attributes
    ----------
    data : bytes
        The de-identified Part 10 stream (joined on first access).
    study_instance_uid, series_instance_uid, sop_instance_uid : str
        The new (pseudonymous) UIDs, as written in ``data``.
    sop_class_uid : str
        Unchanged SOP Class UID.
    patient_id : str
        The pseudonymous Patient ID.
    profile, key_version : str
        What was applied, as recorded in the provenance.

    Notes
    -----
    Until ``data`` is read or ``write_to`` is called the result refers to the
    input buffer, so a mutable input (``bytearray``) must not change before.
    """

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    patient_id: str
    profile: str
    key_version: str
    _chunks: Sequence[bytes | memoryview] = field(repr=False)
    _summary: Mapping[str, object] = field(repr=False)

    @cached_property
    def data(self) -> bytes:
        """The de-identified Part 10 stream."""
        return b"".join(self._chunks)

    @property
    def size(self) -> int:
        """Length of the de-identified stream in bytes."""
        return sum(len(chunk) for chunk in self._chunks)

    def iter_chunks(self, max_chunk: int = 4 * 1024 * 1024) -> Iterator[bytes]:
        """The stream as pieces of at most ``max_chunk`` bytes, never joined.

        Uploading these keeps memory at one copy of the input plus a piece,
        where ``data`` would add a second full copy (pixel data included).
        """
        for chunk in self._chunks:
            view = memoryview(chunk)
            for start in range(0, len(view), max_chunk):
                yield bytes(view[start : start + max_chunk])

    def write_to(self, stream: BinaryIO) -> int:
        """Write the stream to ``stream`` without joining it first.

        Uses one ``writev`` call on a real file, which spares a copy of the
        pixel data; returns the number of bytes written.
        """
        if "data" in self.__dict__:
            return stream.write(self.data)
        try:
            descriptor = stream.fileno()
        except (AttributeError, OSError, io.UnsupportedOperation):
            return sum(stream.write(chunk) for chunk in self._chunks)
        stream.flush()
        return _write_all(descriptor, self._chunks)

    def summary(self) -> dict[str, object]:
        """Non-identifying metadata for the lake tables.

        Keys: ``modality``, ``sop_class_uid``, ``rows``, ``columns``,
        ``number_of_frames``, ``transfer_syntax_uid``, ``study_date`` (as
        written: shifted, kept or ``None`` when removed), ``body_part_examined``,
        ``bytes_in``, ``bytes_out``, ``profile``, ``key_version``.
        """
        return dict(self._summary)


def _write_all(descriptor: int, chunks: Sequence[bytes | memoryview]) -> int:
    """``writev`` every chunk, resuming after short writes (POSIX allows them)."""
    pending = [memoryview(chunk) for chunk in chunks if len(chunk)]
    written = 0
    while pending:
        batch = pending[:_IOV_MAX]
        count = os.writev(descriptor, batch)
        written += count
        while count and pending:
            if count >= len(pending[0]):
                count -= len(pending.pop(0))
            else:
                pending[0] = pending[0][count:]
                count = 0
    return written


class _State:
    """Per-instance state of one rewrite."""

    __slots__ = (
        "deferred",
        "encoding",
        "identity",
        "offset_days",
        "source",
        "tokens",
        "writer",
    )

    def __init__(
        self,
        source: memoryview,
        writer: Writer,
        identity: bytes,
        offset_days: int,
        collect: bool,
    ) -> None:
        self.source = source
        self.writer = writer
        self.encoding = writer.encoding
        self.identity = identity
        self.offset_days = offset_days
        self.tokens: set[str] | None = set() if collect else None
        self.deferred: list[tuple[int, Element, CharacterSet]] = []


class Deidentifier:
    """Applies one profile under one key to Part 10 instances.

    Parameters
    ----------
    profile : Profile
        What to remove, replace, keep or clean (``load_profile``).
    key : DeidKey
        The secret for pseudonyms and its version for the provenance.
    pixel_cleaner : PixelCleaner, optional
        Required when the profile names Clean Pixel Data; without one such a
        profile is refused.

    Raises
    ------
    ValueError
        The profile needs a pixel cleaner that was not given.

    Examples
    --------
    >>> from lib.deid import Deidentifier, DeidKey, load_profile
    >>> deid = Deidentifier(load_profile("research"), DeidKey(b"k" * 32, "v1"))
    """

    def __init__(
        self,
        profile: Profile,
        key: DeidKey,
        *,
        pixel_cleaner: PixelCleaner | None = None,
    ) -> None:
        wanted = sorted(PIXEL_OPTIONS & profile.options)
        if wanted and pixel_cleaner is None:
            raise ValueError(
                f"profile {profile.name} names {', '.join(wanted)}, which needs a "
                "pixel cleaner; none is configured (header de-identification "
                "never decodes pixels)"
            )
        self.profile = profile
        self.key_version = key.version
        self._pixel_cleaner = pixel_cleaner if profile.has("clean_pixel_data") else None
        self._table = ActionTable(profile)
        self._pseudonyms = Pseudonymizer(key, profile)
        self._shift_dates = profile.has("retain_longitudinal_modified_dates")
        self._collect = bool(
            {"clean_descriptors", "clean_structured_content", "clean_graphics"}
            & profile.options
            or profile.has("retain_device_identity")
            or profile.has("retain_patient_characteristics")
        )
        self._method_values = _method_values(profile, key.version)
        self._provenance_cache: dict[Encoding, list[tuple[int, bytes]]] = {}

    def __repr__(self) -> str:
        return (
            f"Deidentifier(profile={self.profile.name!r}, "
            f"key_version={self.key_version!r})"
        )

    # -- public -------------------------------------------------------------

    def deidentify(self, data: bytes | bytearray | memoryview) -> DeidResult:
        """De-identify one Part 10 instance.

        Parameters
        ----------
        data : bytes-like
            A DICOM Part 10 stream (preamble, ``DICM``, file meta, dataset).
            The result refers to it until ``DeidResult.data`` is read.

        Returns
        -------
        DeidResult
            The new bytes, new UIDs and a summary. Pixel Data bytes are copied
            untouched unless a pixel cleaner is configured.

        Raises
        ------
        DeidError
            A subclass with a stable ``code``: ``DEID_UNREADABLE``,
            ``DEID_UNSUPPORTED_TRANSFER_SYNTAX``, ``DEID_UNSUPPORTED_OBJECT``,
            ``DEID_BURNED_IN_ANNOTATION`` or ``DEID_MISSING_ATTRIBUTE``.
        """
        view = memoryview(data)
        meta, dataset_start = _parse_file_meta(view)
        transfer_syntax = _uid_text(meta.get(_META_TRANSFER_SYNTAX))
        encoding, deflated = _encoding_for(transfer_syntax)
        if deflated:
            view = _inflate(view, dataset_start)
            dataset_start = 0
        elements = parse_dataset(view, dataset_start, encoding)
        top = {element.tag: element for element in elements}

        sop_class_uid = _required_uid(top, SOP_CLASS_UID, "SOPClassUID")
        self._check_cleanable(sop_class_uid, top)
        sop_instance_uid = _required_uid(top, SOP_INSTANCE_UID, "SOPInstanceUID")
        study_uid = _required_uid(top, STUDY_INSTANCE_UID, "StudyInstanceUID")
        series_uid = _required_uid(top, SERIES_INSTANCE_UID, "SeriesInstanceUID")

        identity = _patient_identity(top, study_uid)
        offset_days = (
            self._pseudonyms.date_offset_days(identity) if self._shift_dates else 0
        )
        writer = Writer(encoding)
        state = _State(view, writer, identity, offset_days, self._collect)
        body: Chunks = []
        self._write_dataset(
            elements, body, state, CharacterSet(), self._provenance(encoding)
        )
        self._resolve_deferred(body, state)

        new_sop_uid = self._map_uid(SOP_INSTANCE_UID, sop_instance_uid)
        meta_sop_class = _uid_text(meta.get(_META_SOP_CLASS)) or sop_class_uid
        meta_bytes = _file_meta(meta_sop_class, new_sop_uid, transfer_syntax)
        head = b"".join((bytes(PREAMBLE_LENGTH), MAGIC, meta_bytes))
        if deflated:
            compressor = zlib.compressobj(
                _DEFLATE_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS
            )
            deflated_body = compressor.compress(b"".join(body)) + compressor.flush()
            body = [pad(deflated_body, "OB")]
        # Joined lazily (``DeidResult.data``) or written with writev: either way
        # the pixel data is copied once.
        body.insert(0, head)
        bytes_out = sum(map(len, body))

        patient_id = self._pseudonyms.patient_id(identity)
        summary = self._summary(top, encoding, transfer_syntax, offset_days)
        summary.update(
            bytes_in=len(data),
            bytes_out=bytes_out,
            profile=self.profile.name,
            key_version=self.key_version,
        )
        return DeidResult(
            study_instance_uid=self._map_uid(STUDY_INSTANCE_UID, study_uid),
            series_instance_uid=self._map_uid(SERIES_INSTANCE_UID, series_uid),
            sop_instance_uid=new_sop_uid,
            sop_class_uid=sop_class_uid,
            patient_id=patient_id,
            profile=self.profile.name,
            key_version=self.key_version,
            _chunks=tuple(body),
            _summary=MappingProxyType(summary),
        )

    # -- checks -------------------------------------------------------------

    def _check_cleanable(self, sop_class_uid: str, top: dict[int, Element]) -> None:
        name = UNCLEANABLE_SOP_CLASSES.get(sop_class_uid)
        if name and sop_class_uid not in self.profile.allowed_sop_classes:
            raise DeidUnsupportedObjectError(
                f"SOPClassUID is {name}, whose content cannot be cleaned by header "
                f"rules; profile {self.profile.name} does not list it in "
                "quarantine.allowed_sop_classes"
            )
        burned_in = top.get(BURNED_IN_ANNOTATION)
        if (
            burned_in is not None
            and bytes(burned_in.value).strip().upper() == b"YES"
            and self._pixel_cleaner is None
            and not self.profile.allow_burned_in_annotation
        ):
            raise DeidBurnedInAnnotationError(
                "BurnedInAnnotation is YES and no pixel cleaner is configured "
                f"(profile {self.profile.name}); identifying text may be in the "
                "pixels"
            )

    # -- the rewrite ----------------------------------------------------------

    def _write_dataset(
        self,
        elements: list[Element],
        out: Chunks,
        state: _State,
        charset: CharacterSet,
        insertions: list[tuple[int, bytes]] | None = None,
    ) -> None:
        """Write one dataset (the top level or an item), element by element."""
        action_for = self._table.action
        writer = state.writer
        source = state.source
        encoding = state.encoding
        keep = Action.KEEP
        creators: dict[int, str] = {}
        pending = list(insertions) if insertions is not None else []
        # Consecutive kept elements are copied as one slice of the input, headers
        # included: most of an image's elements and its pixel data take this path.
        run_start = run_end = 0
        for element in elements:
            tag = element.tag
            if (
                element.raw
                and element.encoding is encoding
                and tag & 0x10000 == 0
                and not (pending and pending[0][0] < tag)
                and (tag != PIXEL_DATA or self._pixel_cleaner is None)
                and action_for(tag, element.vr) is keep
            ):
                if element.offset == run_end and run_end:
                    run_end = element.end
                else:
                    if run_end:
                        out.append(source[run_start:run_end])
                    run_start, run_end = element.offset, element.end
                if tag == SPECIFIC_CHARACTER_SET:
                    charset = CharacterSet(bytes(element.value))
                continue
            if run_end:
                out.append(source[run_start:run_end])
                run_start = run_end = 0
            # Provenance elements go in tag order (PS3.5 7.1): before the first
            # element with a larger tag.
            while pending and pending[0][0] < tag:
                _emit_insertion(pending, out)
            if tag & 0x10000:
                self._write_private(element, out, state, creators)
                continue
            if tag == SPECIFIC_CHARACTER_SET:
                # It precedes every text element of its dataset (tag order), and
                # an item's own value overrides the enclosing one (PS3.5 6.1.2.3).
                charset = CharacterSet(bytes(element.value))

            action = action_for(tag, element.vr)
            if action is Action.KEEP:
                if element.items is not None:
                    self._write_sequence(element, out, state, charset)
                elif element.undefined:
                    writer.encapsulated(out, tag, element.value)
                elif tag == PIXEL_DATA and self._pixel_cleaner is not None:
                    writer.element(out, tag, element.vr, self._clean_pixels(element))
                else:
                    value = element.value
                    if len(value) % 2:
                        value = pad(bytes(value), element.vr)  # type: ignore[assignment]
                    writer.element(out, tag, element.vr, value)
            elif action is Action.RECURSE:
                if element.items is None:
                    writer.element(out, tag, element.vr, b"")
                else:
                    self._write_sequence(element, out, state, charset)
            elif action is Action.REMOVE:
                self._collect_identifier(element, state, charset)
            elif action is Action.REPLACE_UID:
                writer.element(out, tag, "UI", self._replace_uids(element, False))
            elif action is Action.UID_UNLESS_REGISTERED:
                writer.element(out, tag, "UI", self._replace_uids(element, True))
            elif action is Action.EMPTY:
                self._collect_identifier(element, state, charset)
                writer.element(out, tag, element.vr, b"")
            elif action is Action.DUMMY:
                self._collect_identifier(element, state, charset)
                writer.element(out, tag, element.vr, _dummy(element.vr))
            elif action is Action.SHIFT_DATE:
                writer.element(out, tag, element.vr, self._shift(element, state))
            elif action is Action.CLEAN_TEXT:
                # Cleaned last, once every identifier of the object is known.
                state.deferred.append((len(out), element, charset))
                out.append(b"")
            elif action is Action.PSEUDONYM_PATIENT_ID:
                self._collect_identifier(element, state, charset)
                own = _strip(element.value)
                pseudonym = self._pseudonyms.patient_id(
                    b"id:" + own if own else state.identity
                )
                writer.element(out, tag, element.vr, pad(pseudonym.encode(), "LO"))
            elif action is Action.PSEUDONYM_PATIENT_NAME:
                self._collect_identifier(element, state, charset)
                pseudonym = self._pseudonyms.patient_name(state.identity)
                writer.element(out, tag, element.vr, pad(pseudonym.encode(), "PN"))
        if run_end:
            out.append(source[run_start:run_end])
        while pending:
            _emit_insertion(pending, out)

    def _write_sequence(
        self, element: Element, out: Chunks, state: _State, charset: CharacterSet
    ) -> None:
        if element.encoding.little != state.encoding.little:
            # A UN sequence (implicit little endian) inside a big endian file: its
            # values cannot be re-encoded without knowing every VR. Removed.
            return
        writer = state.writer
        writer.sequence_start(out, element.tag, "SQ")
        for item in element.items or ():
            out.append(writer.item_start)
            self._write_dataset(item, out, state, charset)
            out.append(writer.item_end)
        out.append(writer.sequence_end)

    def _write_private(
        self,
        element: Element,
        out: Chunks,
        state: _State,
        creators: dict[int, str],
    ) -> None:
        """Private attributes (PS3.5 7.8): removed unless safe and retained."""
        group, number = element.tag >> 16, element.tag & 0xFFFF
        if 0x10 <= number <= 0xFF:
            creator = bytes(element.value).decode("latin-1").strip(" \0")
            creators[number] = creator
            if self.profile.has("retain_safe_private") and any(
                g == group and c == creator for g, c, _ in SAFE_PRIVATE
            ):
                state.writer.element(out, element.tag, element.vr, element.value)
            return
        if not self.profile.has("retain_safe_private") or element.items is not None:
            return
        creator = creators.get(number >> 8, "")
        if (group, creator, number & 0xFF) in SAFE_PRIVATE:
            state.writer.element(out, element.tag, element.vr, element.value)

    # -- values -------------------------------------------------------------

    def _map_uid(self, tag: int, uid: str) -> str:
        if self._table.action(tag, "UI") is Action.KEEP:
            return uid
        return self._pseudonyms.uid(uid)

    def _replace_uids(self, element: Element, keep_registered: bool) -> bytes:
        values = bytes(element.value).decode("latin-1").split("\\")
        mapped = []
        for raw in values:
            uid = raw.strip(" \0")
            if not uid or (keep_registered and uid in UID_dictionary):
                mapped.append(uid)
            else:
                mapped.append(self._pseudonyms.uid(uid))
        return pad("\\".join(mapped).encode("ascii"), "UI")

    def _shift(self, element: Element, state: _State) -> bytes:
        text = bytes(element.value).decode("ascii", "replace").rstrip(" \0")
        if not text:
            return b""
        shifted = shift_date_value(text, element.vr, state.offset_days)
        return b"" if shifted is None else pad(shifted.encode("ascii"), element.vr)

    def _collect_identifier(
        self, element: Element, state: _State, charset: CharacterSet
    ) -> None:
        """Remember the words of a removed identifier to scrub them from text."""
        if state.tokens is None or element.vr not in TEXT_VRS or not element.value:
            return
        text = charset.decode(bytes(element.value), element.vr)
        if text:
            state.tokens.update(identifier_tokens(text))

    def _resolve_deferred(self, out: Chunks, state: _State) -> None:
        if not state.deferred:
            return
        scrubber = IdentifierScrubber(state.tokens or ())
        writer = state.writer
        for index, element, charset in state.deferred:
            value = b""
            text = charset.decode(bytes(element.value), element.vr)
            if text is not None:
                cleaned = scrubber.scrub(text.rstrip(" \0"), element.vr)
                value = pad(charset.encode(cleaned) or b"", element.vr)
            # Text that cannot be decoded is emptied, not kept (PS3.15 E.3: when
            # cleaning is not possible the attribute is treated as Z).
            chunks: Chunks = []
            writer.element(chunks, element.tag, element.vr, value)
            out[index] = b"".join(chunks)

    def _clean_pixels(self, element: Element) -> bytes:
        assert self._pixel_cleaner is not None
        return pad(
            self._pixel_cleaner.clean_pixel_data(
                element.value,
                transfer_syntax_uid="",
                attributes={},
            ),
            "OB",
        )

    # -- provenance and summary ----------------------------------------------

    def _provenance(self, encoding: Encoding) -> list[tuple[int, bytes]]:
        cached = self._provenance_cache.get(encoding)
        if cached is None:
            cached = self._provenance_cache[encoding] = _provenance_chunks(
                Writer(encoding), self.profile, self._method_values
            )
        return cached

    def _summary(
        self,
        top: dict[int, Element],
        encoding: Encoding,
        transfer_syntax: str,
        offset_days: int,
    ) -> dict[str, object]:
        unsigned = struct.Struct(encoding.prefix + "H")

        def text(tag: int) -> str | None:
            element = top.get(tag)
            if element is None or element.items is not None:
                return None
            return bytes(element.value).decode("ascii", "replace").strip(" \0") or None

        def number(tag: int) -> int | None:
            element = top.get(tag)
            if element is None or len(element.value) < 2:
                return None
            return int(unsigned.unpack_from(element.value)[0])

        frames = text(NUMBER_OF_FRAMES)
        study_date = text(STUDY_DATE)
        date_action = self._table.action(STUDY_DATE, "DA")
        if study_date is None or date_action not in (Action.KEEP, Action.SHIFT_DATE):
            study_date = None
        elif date_action is Action.SHIFT_DATE:
            study_date = shift_date_value(study_date, "DA", offset_days)
        return {
            "modality": text(MODALITY),
            "sop_class_uid": text(SOP_CLASS_UID),
            "rows": number(ROWS),
            "columns": number(COLUMNS),
            "number_of_frames": int(frames) if frames and frames.isdigit() else 1,
            "transfer_syntax_uid": transfer_syntax,
            "study_date": study_date,
            "body_part_examined": text(BODY_PART_EXAMINED),
        }


# -- module helpers -----------------------------------------------------------


def _strip(value: memoryview) -> bytes:
    return bytes(value).strip(b" \0")


def _uid_text(element: Element | None) -> str:
    if element is None:
        return ""
    return bytes(element.value).decode("ascii", "replace").strip(" \0")


def _required_uid(top: dict[int, Element], tag: int, keyword: str) -> str:
    uid = _uid_text(top.get(tag))
    if not uid:
        raise DeidMissingAttributeError(
            f"{keyword} is missing or empty; the de-identified instance could not "
            "be filed"
        )
    return uid


def _patient_identity(top: dict[int, Element], study_uid: str) -> bytes:
    """The bytes every per-patient pseudonym derives from.

    Patient ID when present; else Patient's Name with Patient's Birth Date; else
    the Study Instance UID, so that anonymous studies are not merged into one
    pseudonymous patient.
    """
    patient_id = top.get(PATIENT_ID)
    if patient_id is not None and _strip(patient_id.value):
        return b"id:" + _strip(patient_id.value)
    name = top.get(PATIENT_NAME)
    if name is not None and _strip(name.value):
        birth = top.get(PATIENT_BIRTH_DATE)
        birth_value = _strip(birth.value) if birth is not None else b""
        return b"name:" + _strip(name.value) + b"\0" + birth_value
    return b"study:" + study_uid.encode("ascii", "replace")


def _dummy(vr: str) -> bytes:
    if vr in _DUMMIES:
        return _DUMMIES[vr]
    if vr in TEXT_VRS:
        return _DUMMY_TEXT
    return _DUMMY_BINARY


def _parse_file_meta(view: memoryview) -> tuple[dict[int, Element], int]:
    """The File Meta Information (PS3.10 7.1): always explicit VR little endian."""
    if len(view) < PREAMBLE_LENGTH + 4 or view[128:132] != MAGIC:
        raise DeidUnreadableError(
            "not a DICOM Part 10 stream: no DICM prefix after the 128-byte preamble"
        )
    pos = PREAMBLE_LENGTH + 4
    meta: dict[int, Element] = {}
    end = len(view)
    while pos + 8 <= end:
        group, number, raw_vr, length = _META_SHORT.unpack_from(view, pos)
        if group != 0x0002:
            break
        if raw_vr in (b"OB", b"OW", b"UN", b"UT", b"SQ", b"UC", b"UR"):
            (length,) = _META_LONG.unpack_from(view, pos + 8)
            start = pos + 12
        else:
            start = pos + 8
        if start + length > end:
            raise DeidUnreadableError("File Meta Information runs past the end")
        tag = group << 16 | number
        meta[tag] = Element(
            tag,
            raw_vr.decode("ascii", "replace"),
            view[start : start + length],
            None,
            False,
            _EXPLICIT_LITTLE,
        )
        pos = start + length
    if _META_TRANSFER_SYNTAX not in meta:
        raise DeidUnreadableError("TransferSyntaxUID (0002,0010) is missing")
    return meta, pos


def _encoding_for(transfer_syntax: str) -> tuple[Encoding, bool]:
    """The dataset encoding of a transfer syntax (PS3.5 10) and if deflated."""
    if transfer_syntax == IMPLICIT_VR_LITTLE_ENDIAN:
        return Encoding(explicit=False, little=True), False
    if transfer_syntax == EXPLICIT_VR_BIG_ENDIAN:
        return Encoding(explicit=True, little=False), False
    if transfer_syntax == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        return _EXPLICIT_LITTLE, True
    entry = UID_dictionary.get(transfer_syntax)
    if entry is None or entry[1] != "Transfer Syntax":
        raise DeidUnsupportedTransferSyntaxError(
            "TransferSyntaxUID is not a registered transfer syntax; its encoding "
            "is unknown"
        )
    # Every other standard transfer syntax, native or encapsulated, encodes the
    # dataset in explicit VR little endian (PS3.5 A.4).
    return _EXPLICIT_LITTLE, False


def _inflate(view: memoryview, start: int) -> memoryview:
    try:
        return memoryview(zlib.decompress(view[start:], -zlib.MAX_WBITS))
    except zlib.error as exc:
        raise DeidUnreadableError("deflated dataset does not inflate") from exc


def _file_meta(
    sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str
) -> bytes:
    """New File Meta Information: nothing of the source application is kept."""
    chunks: Chunks = []
    writer = _META_WRITER
    writer.element(chunks, _META_FILE_VERSION, "OB", b"\x00\x01")
    writer.element(chunks, _META_SOP_CLASS, "UI", pad(sop_class_uid.encode(), "UI"))
    writer.element(
        chunks, _META_SOP_INSTANCE, "UI", pad(sop_instance_uid.encode(), "UI")
    )
    writer.element(
        chunks, _META_TRANSFER_SYNTAX, "UI", pad(transfer_syntax.encode(), "UI")
    )
    writer.element(
        chunks, 0x00020012, "UI", pad(IMPLEMENTATION_CLASS_UID.encode(), "UI")
    )
    writer.element(
        chunks, 0x00020013, "SH", pad(IMPLEMENTATION_VERSION_NAME.encode(), "SH")
    )
    body = b"".join(chunks)
    group_length: Chunks = []
    writer.element(group_length, 0x00020000, "UL", struct.pack("<L", len(body)))
    return b"".join(group_length) + body


def _method_values(profile: Profile, key_version: str) -> list[str]:
    """De-identification Method (0012,0063) values, each within LO's 64 chars."""
    values = [
        f"Medlake profile {profile.name}"[:64],
        f"PS3.15 {EDITION} Table E.1-1 Basic Profile",
        *profile.ordered_options,
        f"key version {key_version}",
    ]
    return [value.replace("\\", "/") for value in values]


def _provenance_chunks(
    writer: Writer, profile: Profile, method_values: list[str]
) -> list[tuple[int, bytes]]:
    """The provenance elements (PS3.15 E.1.1, PS3.3 C.12.1), encoded, by tag."""
    chunks: list[tuple[int, bytes]] = []
    element: Chunks = []
    writer.element(element, 0x00120062, "CS", b"YES ")
    chunks.append((0x00120062, b"".join(element)))

    element = []
    writer.element(
        element, 0x00120063, "LO", pad("\\".join(method_values).encode("ascii"), "LO")
    )
    chunks.append((0x00120063, b"".join(element)))

    element = []
    writer.sequence_start(element, 0x00120064)
    for option in ("basic_profile", *profile.ordered_options):
        code = OPTION_CODES[option]
        element.append(writer.item_start)
        writer.element(element, 0x00080100, "SH", pad(code.code_value.encode(), "SH"))
        writer.element(
            element, 0x00080102, "SH", pad(code.coding_scheme_designator.encode(), "SH")
        )
        writer.element(element, 0x00080104, "LO", pad(code.code_meaning.encode(), "LO"))
        element.append(writer.item_end)
    element.append(writer.sequence_end)
    chunks.append((0x00120064, b"".join(element)))

    if profile.has("retain_longitudinal_modified_dates"):
        temporal = b"MODIFIED"
    elif profile.has("retain_longitudinal_full_dates"):
        temporal = b"UNMODIFIED"
    else:
        temporal = b"REMOVED "
    element = []
    writer.element(element, 0x00280303, "CS", temporal)
    chunks.append((0x00280303, b"".join(element)))
    return chunks


def _emit_insertion(pending: list[tuple[int, bytes]], out: Chunks) -> None:
    out.append(pending.pop(0)[1])
