"""Assemble the ingest pipeline from settings: which stages run, in what order.

The Function App, the benchmarks and the integration tests all build the pipeline
here, so they run the same stages. Add a stage by appending it below.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from lib.deid.stage import DeidStage
from lib.ingest import IngestPipeline, RejectionSink, Stage
from lib.lake import LakeRejectionSink, LakeStage, Stager
from lib.settings import Settings
from lib.storage import blob_service_client


def build_pipeline(env: Mapping[str, str] | None = None) -> IngestPipeline:
    """The ingest pipeline with every stage, configured from ``env``.

    Raises
    ------
    ConfigurationError
        A setting is missing or malformed; the message names it.
    """
    env = os.environ if env is None else env
    settings = Settings.from_env(env)
    service = blob_service_client(settings)
    stages: list[Stage] = [DeidStage.from_env(service, env)]
    stages.append(LakeStage())
    sinks: list[RejectionSink] = []
    sinks.append(LakeRejectionSink())
    return IngestPipeline.from_settings(
        settings,
        service=service,
        stages=stages,
        rejection_sinks=sinks,
        row_stager=Stager(service).stage_many,
    )
