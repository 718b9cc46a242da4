#!/usr/bin/env python3
"""Check that an environment's stack and pipelines are in place (the gate before promoting to the next one).

    check_deployed.py --env dev

Passes when the environment's three SageMaker pipelines exist and its active-model SSM parameter (created by
Terraform) is readable; otherwise prints one line per missing piece and exits 1. Read-only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

from batchops.aws_session import AwsTarget, AwsTargetError, connect  # noqa: E402
from batchops.config import ConfigError, load_settings  # noqa: E402
from batchops.operations import active_model_parameter  # noqa: E402


def _error_text(exc: ClientError) -> str:
    return exc.response["Error"].get("Message") or exc.response["Error"].get("Code") or str(exc)


def missing_parts(target: AwsTarget) -> list[str]:
    settings = target.settings
    problems = []
    sagemaker = target.client("sagemaker")
    for key, name in settings.pipeline_names.items():
        try:
            sagemaker.describe_pipeline(PipelineName=name)
        except ClientError as exc:
            problems.append(f"{settings.environment}: pipeline '{name}' ({key}) is not deployed: {_error_text(exc)}")
    parameter = active_model_parameter(settings)
    try:
        target.client("ssm").get_parameter(Name=parameter)
    except ClientError as exc:
        problems.append(f"{settings.environment}: SSM parameter {parameter} is missing: {_error_text(exc)}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="environment to check (env_files/<env>.tfvars)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.env)
        problems = missing_parts(connect(settings))
    except ConfigError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 1
    except (AwsTargetError, BotoCoreError) as exc:
        print(f"check_deployed: {exc}", file=sys.stderr)
        return 1
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return 1
    print(f"{args.env}: pipelines {', '.join(settings.pipeline_names.values())} and the active-model parameter "
          f"are in place")
    return 0


if __name__ == "__main__":
    sys.exit(main())
