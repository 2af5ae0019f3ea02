"""Keyed pseudonyms: UIDs, Patient ID, Patient's Name and the date offset.

Every pseudonym is HMAC-SHA256 under the de-identification key of the original
value, with a domain label so that a UID and a Patient ID with the same text get
unrelated pseudonyms. The same key gives the same pseudonym everywhere, which
keeps references between de-identified instances resolvable; another key gives
unlinkable output.
"""

from __future__ import annotations

import hashlib
import hmac

from lib.deid.keys import DeidKey
from lib.deid.profiles import Profile

__all__ = ["Pseudonymizer"]

# RFC 9562 UUID version 8 (custom) and variant bits: a UID under 2.25 must be a
# UUID's integer value (PS3.5 B.2).
_VERSION_MASK = ~(0xF << 76)
_VERSION_8 = 0x8 << 76
_VARIANT_MASK = ~(0x3 << 62)
_VARIANT_RFC = 0x2 << 62
UID_CACHE_SIZE = 4096


class Pseudonymizer:
    """Derives every pseudonym of one key and profile.

    Parameters
    ----------
    key : DeidKey
        The secret.
    profile : Profile
        Supplies the pseudonym formats and the maximum date shift.
    """

    def __init__(self, key: DeidKey, profile: Profile) -> None:
        self._secret = key.secret
        self._profile = profile
        # Study, series and frame of reference UIDs repeat across the instances
        # of a series; a bounded cache keeps memory flat over any number of files.
        self._uids: dict[str, str] = {}

    def __repr__(self) -> str:
        return "Pseudonymizer(<redacted>)"

    def _digest(self, domain: bytes, value: bytes) -> bytes:
        return hmac.new(self._secret, domain + b"\0" + value, hashlib.sha256).digest()

    def uid(self, uid: str) -> str:
        """``2.25.`` + the integer of a UUIDv8 made from the keyed hash of ``uid``."""
        found = self._uids.get(uid)
        if found is None:
            if len(self._uids) >= UID_CACHE_SIZE:
                self._uids.clear()
            found = self._uids[uid] = self._derive_uid(uid)
        return found

    def _derive_uid(self, uid: str) -> str:
        number = int.from_bytes(self._digest(b"uid", uid.encode("ascii")[:64])[:16])
        number = (number & _VERSION_MASK) | _VERSION_8
        number = (number & _VARIANT_MASK) | _VARIANT_RFC
        return f"2.25.{number}"

    def patient_digest(self, identity: bytes) -> str:
        """64 upper-case hex digits identifying the patient under this key."""
        return self._digest(b"patient", identity).hex().upper()

    def patient_id(self, identity: bytes) -> str:
        """The pseudonymous Patient ID for the patient ``identity``."""
        return self._profile.patient_id_format.format(
            digest=self.patient_digest(identity)
        )

    def patient_name(self, identity: bytes) -> str:
        """The pseudonymous Patient's Name for the patient ``identity``."""
        return self._profile.patient_name_format.format(
            digest=self.patient_digest(identity)
        )

    def date_offset_days(self, identity: bytes) -> int:
        """A negative whole-day offset, the same for every date of a patient."""
        draw = int.from_bytes(self._digest(b"date-offset", identity)[:8])
        return -(1 + draw % self._profile.max_date_shift_days)
