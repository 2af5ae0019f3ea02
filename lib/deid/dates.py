"""Shifting DA and DT values by a whole number of days (PS3.15 E.3.6).

Retain Longitudinal Temporal Information with Modified Dates keeps intervals:
every date of one patient moves by the same offset. Times of day are kept, so a
TM value needs no change. Values that do not parse are emptied rather than
kept, because an unparsable date may still be a real one.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["shift_da", "shift_date_value", "shift_dt"]

_DT = re.compile(r"(\d{4})(\d{2})?(\d{2})?(.*)", re.DOTALL)
_DT_REST = re.compile(r"(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?([+-]\d{4})?")


def _shift(year: int, month: int, day: int, days: int) -> dt.date | None:
    try:
        return dt.date(year, month, day) + dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return None


def shift_da(value: str, days: int) -> str | None:
    """Shift one DA value (``YYYYMMDD``; ACR-NEMA ``YYYY.MM.DD`` accepted).

    Returns
    -------
    str | None
        The shifted date, or ``None`` if ``value`` is not a valid date.
    """
    digits = value.strip().replace(".", "")
    if len(digits) != 8 or not digits.isdigit():
        return None
    shifted = _shift(int(digits[:4]), int(digits[4:6]), int(digits[6:]), days)
    if shifted is None:
        return None
    return f"{shifted.year:04d}{shifted.month:02d}{shifted.day:02d}"


def shift_dt(value: str, days: int) -> str | None:
    """Shift one DT value, keeping its precision, time of day and UTC offset.

    A value of year or year-month precision is shifted from the first day of
    that period and truncated back to the same precision.
    """
    value = value.strip()
    match = _DT.fullmatch(value)
    if match is None:
        return None
    year, month, day, rest = match.groups()
    if day is not None and month is None:
        return None
    if not _DT_REST.fullmatch(rest):
        return None
    shifted = _shift(int(year), int(month or 1), int(day or 1), days)
    if shifted is None:
        return None
    text = f"{shifted.year:04d}{shifted.month:02d}{shifted.day:02d}"
    precision = 4 + (2 if month else 0) + (2 if day else 0)
    return text[:precision] + rest


def shift_date_value(value: str, vr: str, days: int) -> str | None:
    """Shift every value of a multi-valued DA or DT (``\\`` separated).

    Returns ``None`` when any value does not parse, so that the caller can empty
    the element.
    """
    shift = shift_da if vr == "DA" else shift_dt
    out = []
    for part in value.split("\\"):
        if not part.strip():
            out.append("")
            continue
        shifted = shift(part, days)
        if shifted is None:
            return None
        out.append(shifted)
    return "\\".join(out)
