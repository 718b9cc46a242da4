#!/usr/bin/env python3
"""Check that an environment's stack and pipelines are in place (the gate before promoting to the next one).

    check_deployed.py --env dev [--definitions DIR]

Passes when the environment's three SageMaker pipelines exist and its active-model SSM parameter (created by
Terraform) is readable. With --definitions (the `<pipeline name>.json` files of scripts/write_definitions.py
for this commit), each deployed definition must also equal the built one, so what gets promoted is what ran
in this environment. Otherwise prints one line per problem and exits 1. Read-only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

from batchops.aws_session import AwsTarget, AwsTargetError, connect  # noqa: E402
from batchops.operations import active_model_parameter  # noqa: E402
from batchops_core.settings import ConfigError, load_settings  # noqa: E402


def _error_text(exc: ClientError) -> str:
    return exc.response["Error"].get("Message") or exc.response["Error"].get("Code") or str(exc)


def missing_parts(target: AwsTarget, definitions: Path | None = None) -> list[str]:
    settings = target.settings
    problems = []
    sagemaker = target.client("sagemaker")
    for key, name in settings.pipeline_names.items():
        try:
            deployed = sagemaker.describe_pipeline(PipelineName=name)
        except ClientError as exc:
            problems.append(f"{settings.environment}: pipeline '{name}' ({key}) is not deployed: {_error_text(exc)}")
            continue
        if definitions is not None:
            problems += _definition_differences(settings.environment, name, deployed, definitions / f"{name}.json")
    parameter = active_model_parameter(settings)
    try:
        target.client("ssm").get_parameter(Name=parameter)
    except ClientError as exc:
        problems.append(f"{settings.environment}: SSM parameter {parameter} is missing: {_error_text(exc)}")
    return problems


def _definition_differences(env: str, name: str, deployed: dict, built_file: Path) -> list[str]:
    try:
        built = json.loads(built_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{env}: no readable built definition for '{name}' at {built_file} ({exc})"]
    if json.loads(deployed.get("PipelineDefinition") or "null") != built:
        return [f"{env}: pipeline '{name}' differs from this commit's definition ({built_file}): "
                f"upsert {env} from this commit before promoting"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="environment to check (env_files/<env>.tfvars)")
    parser.add_argument("--definitions", type=Path, help="directory of this commit's built definitions")
    args = parser.parse_args(argv)
    if args.definitions is not None and not args.definitions.is_dir():
        parser.error(f"--definitions: {args.definitions} is not a directory")
    try:
        settings = load_settings(args.env)
        problems = missing_parts(connect(settings), args.definitions)
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
    compared = " and match this commit's definitions" if args.definitions else ""
    print(f"{args.env}: pipelines {', '.join(settings.pipeline_names.values())} and the active-model parameter "
          f"are in place{compared}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
