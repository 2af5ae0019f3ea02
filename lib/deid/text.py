"""Character sets and cleaning of free text (PS3.5 6.1, PS3.15 E.3.5).

Values are decoded with the dataset's Specific Character Set (pydicom's codecs,
including ISO 2022 code extensions) only when they must be cleaned, and encoded
back into the same character set. Text that cannot be decoded or re-encoded is
not cleaned but removed: the caller treats ``None`` as "cannot clean".
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable

from pydicom.charset import decode_bytes, encode_string, python_encoding

__all__ = ["CharacterSet", "IdentifierScrubber", "identifier_tokens"]

# Where ISO 2022 escape state resets (PS3.5 6.1.2.5.3): PN component and group
# delimiters, control characters of long text, the value separator elsewhere.
_PN_DELIMITERS = {0x5E, 0x3D, 0x5C}
_TEXT_DELIMITERS = {0x0D, 0x0A, 0x09, 0x0C}
_VALUE_DELIMITERS = {0x5C}
_LONG_TEXT_VRS = frozenset({"LT", "ST", "UT"})
_MULTI_VALUED = frozenset({"AE", "AS", "CS", "LO", "PN", "SH", "UC"})

_WORD = re.compile(r"\w+")
_EMAIL = re.compile(r"\S+@\S+")
_DATE_LIKE = re.compile(
    r"\b\d{4}[-./]?\d{2}[-./]?\d{2}\b|\b\d{1,2}[-./]\d{1,2}[-./]\d{2,4}\b"
)
# Phone numbers and record numbers: runs of five or more digits, possibly spaced.
_NUMBER_RUN = re.compile(r"\+?\d[\d ()./-]{3,}\d")
_SPACES = re.compile(r"[ \t]{2,}")
MIN_TOKEN_CHARS = 2


class CharacterSet:
    """A dataset's Specific Character Set, resolved to Python codecs.

    Parameters
    ----------
    raw : bytes
        The value of Specific Character Set (0008,0005), empty for the default
        repertoire (ISO-IR 6).
    """

    def __init__(self, raw: bytes = b"") -> None:
        terms = [t.strip() for t in raw.decode("ascii", "replace").split("\\")]
        if not terms or not terms[0]:
            terms = ["ISO_IR 6", *terms[1:]]
        self.known = all(t in python_encoding for t in terms if t)
        self.encodings = [python_encoding[t] for t in terms if t in python_encoding]

    def decode(self, value: bytes, vr: str) -> str | None:
        """Decode ``value``; ``None`` if it is not valid in this character set."""
        if not self.known:
            return None
        if value.isascii() and b"\x1b" not in value:
            return value.decode("ascii")
        if vr == "PN":
            delimiters = _PN_DELIMITERS
        elif vr in _LONG_TEXT_VRS:
            delimiters = _TEXT_DELIMITERS
        else:
            delimiters = _VALUE_DELIMITERS
        with warnings.catch_warnings():
            # pydicom warns and substitutes on bad bytes; for cleaning that means
            # "cannot clean", so the warning becomes the None answer.
            warnings.simplefilter("error")
            try:
                return decode_bytes(value, self.encodings, delimiters)
            except (UnicodeError, LookupError, ValueError, UserWarning):
                return None

    def encode(self, text: str) -> bytes | None:
        """Encode ``text``; ``None`` if this character set cannot hold it."""
        if text.isascii():
            return text.encode("ascii")
        if not self.known:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                return encode_string(text, self.encodings)
            except (UnicodeError, LookupError, ValueError, UserWarning):
                return None


def _is_unspaced(token: str) -> bool:
    """Whether ``token`` has characters of scripts written without spaces."""
    return any(
        "\u3040" <= c <= "\u30ff"  # Hiragana, Katakana
        or "\u3400" <= c <= "\u9fff"  # CJK ideographs
        or "\uac00" <= c <= "\ud7af"  # Hangul syllables
        or "\u0e00" <= c <= "\u0e7f"  # Thai
        for c in token
    )


def identifier_tokens(text: str) -> Iterable[str]:
    """Words of an identifying value, case-folded, at least two characters."""
    return (
        word.casefold() for word in _WORD.findall(text) if len(word) >= MIN_TOKEN_CHARS
    )


class IdentifierScrubber:
    """Removes from free text the identifiers found elsewhere in the object.

    ``Clean`` (PS3.15 E.3.5) asks that identifying information be removed from
    descriptors while the rest is kept. Without language models the engine
    removes what it can recognise: any word of an identifying value of the same
    instance (names, IDs, institution, addresses), e-mail addresses, date-like
    strings and runs of five or more digits. Words in scripts written without
    spaces (CJK) are matched as substrings.

    Parameters
    ----------
    tokens : Iterable[str]
        Case-folded identifier words.
    """

    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = frozenset(tokens)
        # Scripts without spaces between words: matched inside longer runs.
        unspaced = sorted(
            (t for t in self._tokens if not t.isascii() and _is_unspaced(t)),
            key=len,
            reverse=True,
        )
        self._unspaced = (
            re.compile("|".join(map(re.escape, unspaced)), re.IGNORECASE)
            if unspaced
            else None
        )

    def _word(self, match: re.Match[str]) -> str:
        word = match.group()
        return "" if word.casefold() in self._tokens else word

    def scrub(self, text: str, vr: str) -> str:
        """``text`` without recognisable identifiers, spaces collapsed."""
        values = text.split("\\") if vr in _MULTI_VALUED else [text]
        return "\\".join(self._scrub_one(value) for value in values)

    def _scrub_one(self, text: str) -> str:
        text = _EMAIL.sub("", text)
        text = _DATE_LIKE.sub("", text)
        text = _NUMBER_RUN.sub(
            lambda m: "" if sum(c.isdigit() for c in m.group()) >= 5 else m.group(),
            text,
        )
        text = _WORD.sub(self._word, text)
        if self._unspaced is not None:
            text = self._unspaced.sub("", text)
        return _SPACES.sub(" ", text).strip()
