"""The de-identification stage of the ingest pipeline.

Runs after validation, beside the archive of the original: de-identifies the
upload with the configured profile and key and writes the result to ``deid`` at
``studies/{study}/series/{series}/instances/{sop}.dcm`` (new UIDs). The same
input and key give the same bytes and names, so a redelivery rewrites nothing.
An instance the engine cannot clean is quarantined with the engine's code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azure.storage.blob import BlobServiceClient

from lib.deid.engine import Deidentifier
from lib.deid.errors import DeidError
from lib.deid.keys import load_deid_key
from lib.deid.profiles import DEFAULT_PROFILE, load_profile
from lib.ingest import StageRejection, Upload
from lib.storage import DEID, deid_blob_name, write_once
from lib.validation import Finding

PROFILE_SETTING = "MEDLAKE_DEID_PROFILE"
# The storage SDK's single-request upload limit (max_single_put_size).
SINGLE_PUT_BYTES = 64 * 1024 * 1024


class DeidStage:
    """Write the de-identified copy of each accepted upload to ``deid``."""

    name = "deid"

    def __init__(self, service: BlobServiceClient, deidentifier: Deidentifier) -> None:
        self._service = service
        self._deidentifier = deidentifier

    @classmethod
    def from_env(cls, service: BlobServiceClient, env: Mapping[str, str]) -> DeidStage:
        """The stage for the profile and key the settings name.

        Raises
        ------
        ConfigurationError
            No key is configured (``MEDLAKE_DEID_KEY`` or ``MEDLAKE_KEYVAULT_URL``).
        ValueError
            ``MEDLAKE_DEID_PROFILE`` names no profile.
        """
        profile = load_profile(env.get(PROFILE_SETTING) or DEFAULT_PROFILE)
        return cls(service, Deidentifier(profile, load_deid_key(env)))

    def run(
        self, upload: Upload, earlier: Mapping[str, Mapping[str, Any]]
    ) -> Mapping[str, Any]:
        try:
            result = self._deidentifier.deidentify(upload.read_bytes())
        except DeidError as exc:
            raise StageRejection(
                Finding(code=exc.code, check="deidentify", message=str(exc))
            ) from exc

        name = deid_blob_name(
            result.study_instance_uid,
            result.series_instance_uid,
            result.sop_instance_uid,
        )
        # Small instances go up in one request; large ones stream in pieces
        # so memory stays near one copy of the upload (ARCHITECTURE.md budget).
        size = result.size
        data = result.data if size <= SINGLE_PUT_BYTES else result.iter_chunks()
        # First write wins: a later upload with the same SOP Instance UID (a
        # re-send with an edited header) keeps its original in raw, but does
        # not replace the de-identified copy.
        upload.writes.submit(write_once, self._service, DEID, name, data, length=size)
        return {
            "location": f"{DEID}/{name}",
            "studyInstanceUID": result.study_instance_uid,
            "seriesInstanceUID": result.series_instance_uid,
            "sopInstanceUID": result.sop_instance_uid,
            "sopClassUID": result.sop_class_uid,
            "patientId": result.patient_id,
            "profile": result.profile,
            "keyVersion": result.key_version,
            "summary": result.summary(),
        }
