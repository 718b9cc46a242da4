"""Build the four pipeline definitions offline: `build_definitions(settings, account_id=...)`.

Zero network calls (offline session, telemetry off, code as content-addressed s3:// URIs, explicit output
URIs) and deterministic: the same settings and scripts give byte-identical JSON.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import warnings
from collections.abc import Iterator
from typing import Any

from batchops_core.settings import Settings
from pipelines.common.context import BuildContext, StackResources, execution_role_arn
from pipelines.common.sdk import offline_session, sdk_environment

_ACCOUNT = re.compile(r"^\d{12}$")


def import_builders() -> dict[str, Any]:
    """Each pipeline's `build` function (importing them imports the SageMaker SDK: seconds)."""
    from pipelines.inference.pipeline import build as build_inference
    from pipelines.model_quality.pipeline import build as build_model_quality
    from pipelines.train.pipeline import build as build_training
    from pipelines.train_hpo.pipeline import build as build_training_hpo

    return {"training": build_training, "training_hpo": build_training_hpo, "inference": build_inference,
            "model_quality": build_model_quality}


@contextlib.contextmanager
def _building_sdk() -> Iterator[None]:
    """While building: validate the session's SDK config once, not on every lookup; silence job-start notices.

    The SDK re-validates its config dict against a large JSON schema each time it reads a value (hundreds of
    times per build, most of the build time); the dict never changes, so one validation per content is enough.
    It also logs and warns about every job it does not start inside a pipeline session, and prints.
    """
    from sagemaker.core.config.config_manager import SageMakerConfig

    original = SageMakerConfig.__dict__["validate_sagemaker_config"]
    validated: set[str] = set()

    def validate_once(sagemaker_config: dict | None = None) -> None:
        key = json.dumps(sagemaker_config, sort_keys=True, default=str)
        if key not in validated:
            original.__func__(sagemaker_config)
            validated.add(key)

    # SDK modules set levels and handlers on loggers created while building: silence up to WARNING for the build.
    previous_disable = logging.root.manager.disable
    logging.disable(logging.WARNING)
    SageMakerConfig.validate_sagemaker_config = staticmethod(validate_once)
    try:
        # The tuner also prints bare lines to stdout; the callers' output stays theirs.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        SageMakerConfig.validate_sagemaker_config = original
        logging.disable(previous_disable)


def build_definitions(settings: Settings, *, account_id: str, stack: StackResources | None = None) -> dict[str, str]:
    """Definition JSON text of each pipeline, keyed `training`, `training_hpo`, `inference`, `model_quality`.

    `stack`: what the applied stack knows (its data key, the VPC it created); without it the jobs' keys fall back
    to SageMaker's defaults unless the settings name one, and a VPC the stack creates cannot be referenced."""
    if settings.network.create_vpc and not (stack and stack.subnets):
        raise ValueError("network.create_vpc = true: the subnets and security group are the stack's; build the "
                         "definitions with the applied stack's resources (the pipeline upsert reads them)")
    if not _ACCOUNT.match(str(account_id)):
        raise ValueError(f"account_id must be a 12-digit AWS account id, found '{account_id}'")
    settings = settings.for_account(str(account_id))  # the bucket name may carry the account id
    with sdk_environment(settings.region), _building_sdk():
        session = offline_session(settings.bucket, settings.region)
        role = execution_role_arn(settings, str(account_id))
        builders = import_builders()
        known = stack or StackResources()
        pipelines = {key: builders[key](BuildContext(settings, key, session, role, known))
                     for key in settings.pipeline_keys}  # a consumer's: only those that score
        return {key: pipeline.definition() for key, pipeline in pipelines.items()}
