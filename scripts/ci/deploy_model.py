#!/usr/bin/env python3
"""Make an approved model version the active one of an environment (the approval-triggered deploy job).

    deploy_model.py --env staging [--model-package-arn ARN] [--model-package-version N] [--report FILE]

ARN and version default to MODEL_PACKAGE_ARN / MODEL_PACKAGE_VERSION, the variables the approval_trigger
Lambda passes to GitLab's pipeline trigger API. The package must exist and be Approved (checked with the
target environment's credentials); its ARN is then written to the environment's active-model SSM parameter,
which the inference pipeline's ResolveModel step reads at run time. Writing the value the parameter already
holds changes nothing. Versions move forward only (dev -> staging -> prod): a version approved in an
environment's own group is not pushed back into an earlier environment (that job reports it and does
nothing). `--report` writes a dotenv file (GitLab `artifacts:reports:dotenv`) that records what
was deployed and what it replaced.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

from batchops.aws_session import AwsTargetError, connect  # noqa: E402
from batchops.operations import active_model_parameter  # noqa: E402
from batchops_core.settings import ENV_DIR, ConfigError, load_settings  # noqa: E402

_PACKAGE_ARN = re.compile(
    r"^arn:aws[a-z\-]*:sagemaker:(?P<region>[a-z0-9\-]+):(?P<account>\d{12}):"
    r"model-package/(?P<group>[A-Za-z0-9\-]+)/(?P<version>\d+)$"
)


# The order in which .gitlab-ci.yml promotes environments.
PROMOTION_ORDER = ("dev", "staging", "prod")


class DeployError(RuntimeError):
    pass


def environment_of_group(group: str) -> str | None:
    """The environment whose env file names this model package group, if any."""
    for path in sorted(ENV_DIR.glob("*.tfvars")):
        try:
            settings = load_settings(path)
        except ConfigError:
            continue
        if settings.pipelines.model_package_group == group:
            return settings.environment
    return None


def flows_backwards(source: str | None, target: str) -> bool:
    if source not in PROMOTION_ORDER or target not in PROMOTION_ORDER:
        return False
    return PROMOTION_ORDER.index(source) > PROMOTION_ORDER.index(target)


def parse_package_arn(arn: str) -> re.Match[str]:
    found = _PACKAGE_ARN.match(arn)
    if not found:
        raise DeployError(f"model package ARN '{arn}' is not of the form "
                          "arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>")
    return found


def deploy(env: str, arn: str, version: str | None) -> dict[str, str]:
    """Verify the package and point the environment at it; returns what was done (for the report)."""
    parts = parse_package_arn(arn)
    if version and version != parts["version"]:
        raise DeployError(f"MODEL_PACKAGE_VERSION={version} does not match the ARN's version {parts['version']}")
    settings = load_settings(env)
    source = environment_of_group(parts["group"])
    if flows_backwards(source, env):
        return {"DEPLOYED_ENVIRONMENT": env, "DEPLOYED_MODEL_PACKAGE_ARN": "", "DEPLOYED_MODEL_PACKAGE_VERSION": "",
                "SOURCE_ENVIRONMENT": source, "DEPLOY_ACTION": "skipped"}
    if parts["region"] != settings.region:
        raise DeployError(f"the package is in region {parts['region']}, environment '{env}' in {settings.region}")
    target = connect(settings)
    sagemaker, ssm = target.client("sagemaker"), target.client("ssm")
    try:
        package = sagemaker.describe_model_package(ModelPackageName=arn)
    except ClientError as exc:
        raise DeployError(f"cannot read model package {arn} as environment '{env}': "
                          f"{exc.response['Error'].get('Message', exc)}") from None
    status = package.get("ModelApprovalStatus", "unknown")
    if status != "Approved":
        raise DeployError(f"model package {arn} is {status}, not Approved: nothing deployed")
    parameter = active_model_parameter(settings)
    try:
        previous = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except ClientError as exc:
        raise DeployError(f"SSM parameter {parameter} of environment '{env}' is not readable "
                          f"({exc.response['Error'].get('Message', exc)}): is the stack applied?") from None
    group = settings.pipelines.model_package_group
    if parts["group"] != group:
        print(f"note: package group '{parts['group']}' is not this environment's group '{group}': "
              f"promoting a version approved elsewhere")
    if previous == arn:
        action = "unchanged"
    else:
        ssm.put_parameter(Name=parameter, Value=arn, Type="String", Overwrite=True)
        action = "updated"
    return {
        "DEPLOYED_ENVIRONMENT": env,
        "DEPLOYED_MODEL_PACKAGE_ARN": arn,
        "DEPLOYED_MODEL_PACKAGE_VERSION": parts["version"],
        "SOURCE_ENVIRONMENT": source or "",
        "PREVIOUS_MODEL_PACKAGE_ARN": previous,
        "ACTIVE_MODEL_PARAMETER": parameter,
        "DEPLOY_ACTION": action,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="target environment (env_files/<env>.tfvars)")
    parser.add_argument("--model-package-arn", default=os.environ.get("MODEL_PACKAGE_ARN", ""))
    parser.add_argument("--model-package-version", default=os.environ.get("MODEL_PACKAGE_VERSION", ""))
    parser.add_argument("--report", type=Path, help="write a dotenv record of the deployment here")
    args = parser.parse_args(argv)
    if not args.model_package_arn:
        parser.error("no model package: pass --model-package-arn or set MODEL_PACKAGE_ARN")
    try:
        record = deploy(args.env, args.model_package_arn.strip(), args.model_package_version.strip() or None)
    except ConfigError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 1
    except (DeployError, AwsTargetError, BotoCoreError, ClientError) as exc:
        print(f"deploy_model: {exc}", file=sys.stderr)
        return 1
    if record["DEPLOY_ACTION"] == "skipped":
        print(f"{args.env}: the version was approved in '{record['SOURCE_ENVIRONMENT']}', which comes after "
              f"'{args.env}' in the promotion order {' -> '.join(PROMOTION_ORDER)}: nothing to deploy here")
    elif record["DEPLOY_ACTION"] == "unchanged":
        print(f"{args.env}: model version {record['DEPLOYED_MODEL_PACKAGE_VERSION']} was already active "
              f"({record['ACTIVE_MODEL_PARAMETER']})")
    else:
        print(f"{args.env}: model version {record['DEPLOYED_MODEL_PACKAGE_VERSION']} is now active "
              f"({record['ACTIVE_MODEL_PARAMETER']} = {record['DEPLOYED_MODEL_PACKAGE_ARN']}, "
              f"was {record['PREVIOUS_MODEL_PACKAGE_ARN']})")
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text("".join(f"{key}={value}\n" for key, value in record.items()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
