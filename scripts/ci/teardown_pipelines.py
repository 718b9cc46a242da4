#!/usr/bin/env python3
"""Remove what the pipeline upsert created in an environment, before `terraform destroy` removes the stack.

    teardown_pipelines.py --env dev

Deletes the environment's three SageMaker pipelines and every version of the step scripts uploaded under
`s3://<bucket>/<prefixes.code>/` (derived from the repository; the next upsert uploads them again). Data under
the other prefixes and the registered model versions are kept. Missing pipelines or bucket are not errors,
so the teardown can be repeated.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

from batchops.aws_session import AwsTarget, AwsTargetError, connect  # noqa: E402
from batchops_core.settings import ConfigError, load_settings  # noqa: E402

_MISSING = {"ResourceNotFound", "ValidationException", "NoSuchBucket", "404"}


def delete_pipelines(target: AwsTarget) -> list[str]:
    deleted = []
    sagemaker = target.client("sagemaker")
    for name in target.settings.pipeline_names.values():
        try:
            sagemaker.describe_pipeline(PipelineName=name)
        except ClientError as exc:
            if exc.response["Error"].get("Code") in _MISSING:
                continue
            raise
        sagemaker.delete_pipeline(PipelineName=name)  # botocore fills the idempotency token
        deleted.append(name)
    return deleted


def delete_step_scripts(target: AwsTarget) -> int:
    """Every object version and delete marker under the code prefix (the bucket is versioned)."""
    s3 = target.client("s3")
    bucket, prefix = target.settings.bucket, target.settings.prefixes.code + "/"
    removed = 0
    try:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            keys = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]
            for start in range(0, len(keys), 1000):
                answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": keys[start:start + 1000], "Quiet": True})
                if answer.get("Errors"):
                    first = answer["Errors"][0]
                    raise RuntimeError(f"s3://{bucket}/{first['Key']}: {first.get('Message', first.get('Code'))}")
                removed += len(keys[start:start + 1000])
    except ClientError as exc:
        if exc.response["Error"].get("Code") in _MISSING:
            return removed
        raise
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="environment (env_files/<env>.tfvars)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.env)
        target = connect(settings)
        deleted = delete_pipelines(target)
        removed = delete_step_scripts(target)
    except ConfigError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 1
    except (AwsTargetError, BotoCoreError, ClientError, RuntimeError) as exc:
        print(f"teardown_pipelines: {exc}", file=sys.stderr)
        return 1
    print(f"{args.env}: deleted pipelines: {', '.join(deleted) or 'none'}; removed {removed} step-script object "
          f"version(s) under s3://{settings.bucket}/{settings.prefixes.code}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
