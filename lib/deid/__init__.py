"""De-identification: PS3.15 Basic Profile with options and keyed pseudonyms.

>>> from lib.deid import Deidentifier, DeidKey, load_profile
>>> deid = Deidentifier(load_profile("research"), DeidKey(b"0" * 32, "local-1"))

``Deidentifier.deidentify(bytes) -> DeidResult`` is the whole interface; the
pipeline, the ``medlake deid`` command and the benchmarks call it the same way.
See ``docs/deidentification.md`` for what each profile does.
"""

from lib.deid.engine import Deidentifier, DeidResult, PixelCleaner
from lib.deid.errors import (
    DeidBurnedInAnnotationError,
    DeidError,
    DeidMissingAttributeError,
    DeidUnreadableError,
    DeidUnsupportedObjectError,
    DeidUnsupportedTransferSyntaxError,
)
from lib.deid.keys import DeidKey, load_deid_key
from lib.deid.profiles import (
    DEFAULT_PROFILE,
    OPTIONS,
    PROFILE_NAMES,
    Profile,
    load_profile,
    profile_from_mapping,
)
from lib.deid.table import EDITION

__all__ = [
    "DEFAULT_PROFILE",
    "EDITION",
    "OPTIONS",
    "PROFILE_NAMES",
    "DeidBurnedInAnnotationError",
    "DeidError",
    "DeidKey",
    "DeidMissingAttributeError",
    "DeidResult",
    "DeidUnreadableError",
    "DeidUnsupportedObjectError",
    "DeidUnsupportedTransferSyntaxError",
    "Deidentifier",
    "PixelCleaner",
    "Profile",
    "load_deid_key",
    "load_profile",
    "profile_from_mapping",
]
