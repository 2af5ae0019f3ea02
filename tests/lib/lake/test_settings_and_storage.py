"""Lake settings and the delta-rs storage options derived from storage settings."""

from __future__ import annotations

import pytest

from lib.errors import ConfigurationError
from lib.lake import LakeLocation, LakeSettings
from lib.lake.schemas import INSTANCES, REJECTIONS
from lib.lake.staging import staged_blob_name
from lib.settings import Settings


def test_lake_settings_defaults() -> None:
    settings = LakeSettings.from_env({})

    assert settings.vacuum_retention_hours == 168
    assert settings.commit_max_rows == 50_000
    assert settings.use_lock


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"MEDLAKE_LAKE_VACUUM_RETENTION_HOURS": "0"},
            "MEDLAKE_LAKE_VACUUM_RETENTION_HOURS must be at least 1",
        ),
        (
            {"MEDLAKE_LAKE_VACUUM_RETENTION_HOURS": "a week"},
            "MEDLAKE_LAKE_VACUUM_RETENTION_HOURS must be an integer",
        ),
        (
            {"MEDLAKE_LAKE_COMMIT_MAX_ROWS": "0"},
            "MEDLAKE_LAKE_COMMIT_MAX_ROWS must be at least 1",
        ),
        ({"MEDLAKE_LAKE_COMMIT_LOCK": "maybe"}, "MEDLAKE_LAKE_COMMIT_LOCK must be"),
    ],
    ids=["retention-zero", "retention-text", "batch-zero", "lock-text"],
)
def test_bad_lake_setting_is_named_without_its_value(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        LakeSettings.from_env(env)
    assert "a week" not in str(info.value)


def test_azurite_connection_string_gives_endpoint_and_http() -> None:
    connection = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "BlobEndpoint=http://127.0.0.1:12345/devstoreaccount1;"
    )
    location = LakeLocation(Settings(storage_connection_string=connection))

    assert location.storage_options() == {
        "account_name": "devstoreaccount1",
        "account_key": "a2V5",
        "azure_storage_endpoint": "http://127.0.0.1:12345/devstoreaccount1",
        "allow_http": "true",
    }
    assert location.table_uri("instances") == "az://lake/tables/instances"


def test_azure_connection_string_needs_no_endpoint() -> None:
    connection = (
        "DefaultEndpointsProtocol=https;AccountName=medlake;AccountKey=a2V5;"
        "EndpointSuffix=core.windows.net"
    )
    options = LakeLocation(Settings(storage_connection_string=connection))

    assert options.storage_options() == {
        "account_name": "medlake",
        "account_key": "a2V5",
    }


def test_connection_string_without_key_names_the_settings() -> None:
    connection = (
        "BlobEndpoint=https://medlake.blob.core.windows.net;SharedAccessSignature=sv=1"
    )
    location = LakeLocation(Settings(storage_connection_string=connection))

    with pytest.raises(ConfigurationError, match="MEDLAKE_STORAGE_ACCOUNT_URL") as info:
        location.storage_options()
    assert "sv=1" not in str(info.value)


def test_staged_names_are_natural_keys() -> None:
    row = {"sop_instance_uid": "2.25.99", "ingest_date": None}
    assert staged_blob_name(INSTANCES, row) == "staging/instances/2.25.99.json"
    from datetime import date

    rejection = {"sha256": "ab" * 32, "rejected_date": date(2026, 3, 4)}
    assert staged_blob_name(REJECTIONS, rejection) == (
        f"staging/rejections/2026-03-04_{'ab' * 32}.json"
    )


def test_staged_name_refuses_a_key_that_is_not_an_identifier() -> None:
    with pytest.raises(ValueError, match="key column sop_instance_uid must be"):
        staged_blob_name(INSTANCES, {"sop_instance_uid": "DOE^JANE/1"})
