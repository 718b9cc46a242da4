"""`batchops ci`: what the GitLab jobs do besides Terraform (docs/gitlab-ci.md). Each works the same on a laptop.

    batchops ci package-lambdas [--out DIR]           the Lambda zips Terraform reads
    batchops ci install-terraform [--dest DIR]        the pinned Terraform, checksum verified; prints its directory
    batchops --env E ci deploy-model [--report FILE]  approval-triggered: make an approved version active
    batchops --env E ci rollback-model [--report FILE]  reject the active version in this environment only
    batchops --env E ci registry-environment         a consumer's registry environment (empty otherwise)
    batchops --env E ci check-deployed [--definitions DIR]   the promotion gate (read-only)
    batchops --env E ci teardown-pipelines            before `infra destroy`: pipelines and step scripts go

Pipeline definitions and the upsert are `batchops pipelines definitions|upsert`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from batchops import operations as ops
from batchops.cli._base import command, console, err_console, group, state_of
from batchops.errors import UserError
from batchops_core.settings import PROJECT_ROOT

ci_app = group("ci", "Helpers of the GitLab CI jobs: Lambda zips, Terraform install, model deploy, promotion "
                     "gate, pipeline teardown.")


@command(ci_app, "package-lambdas")
def package_lambdas(out: Path = typer.Option(PROJECT_ROOT / "terraform" / "build" / "lambda", "--out",
                                             help="Output directory.")) -> None:
    """Build the Lambda zips (identical bytes every time); one line per zip: name, path, size, sha256."""
    from batchops.lambda_package import build_lambda_zips, sha256_of

    for name, path in build_lambda_zips(out).items():
        console.print(f"{name:<17} {path}  {path.stat().st_size:>8} bytes  sha256 {sha256_of(path)}", markup=False,
                      soft_wrap=True)


@command(ci_app, "install-terraform")
def install_terraform(
    dest: Path = typer.Option(None, "--dest", envvar="TERRAFORM_INSTALL_DIR",
                              help="Install directory (default build/ci-tools)."),
    force: bool = typer.Option(False, "--force", help="Install even if PATH has the pinned version."),
    base_url: str = typer.Option(None, "--base-url", envvar="TERRAFORM_RELEASES_URL",
                                 help="Release mirror (same layout as releases.hashicorp.com/terraform)."),
) -> None:
    """Print the directory of the pinned Terraform: the one on PATH at that version, else the verified release
    installed (`export PATH="$(batchops ci install-terraform):$PATH"`)."""
    from batchops.terraform import RELEASES_URL, install_pinned

    directory = install_pinned(dest or PROJECT_ROOT / "build" / "ci-tools", base_url=base_url or RELEASES_URL,
                               force=force)
    print(directory)


@command(ci_app, "deploy-model")
def deploy_model(
    ctx: typer.Context,
    model_package_arn: str = typer.Option(None, "--model-package-arn", envvar="MODEL_PACKAGE_ARN",
                                          help="Approved version to activate (default: MODEL_PACKAGE_ARN)."),
    model_package_version: str = typer.Option(None, "--model-package-version", envvar="MODEL_PACKAGE_VERSION",
                                              help="Its version number, checked against the ARN."),
    report: Path = typer.Option(None, "--report", help="Write a dotenv record of the deployment here."),
) -> None:
    """Point the environment's active-model parameter at an approved version (forward promotion only)."""
    arn = (model_package_arn or "").strip()
    if not arn:
        raise UserError("no model package: pass --model-package-arn or set MODEL_PACKAGE_ARN")
    state = state_of(ctx)
    env = state.settings.environment
    record = ops.deploy_model(state.target, arn, (model_package_version or "").strip() or None,
                              registry=_registry_target(state),
                              note=lambda line: console.print(line, markup=False, soft_wrap=True))
    if record["DEPLOY_ACTION"] == "skipped":
        console.print(f"{env}: the version was approved in '{record['SOURCE_ENVIRONMENT']}', which comes after "
                      f"'{env}' in the promotion order {' -> '.join(ops.PROMOTION_ORDER)}: nothing to deploy here",
                      markup=False, soft_wrap=True)
    elif record["DEPLOY_ACTION"] == "unchanged":
        console.print(f"{env}: model version {record['DEPLOYED_MODEL_PACKAGE_VERSION']} was already active "
                      f"({record['ACTIVE_MODEL_PARAMETER']})", markup=False, soft_wrap=True)
    else:
        console.print(f"{env}: model version {record['DEPLOYED_MODEL_PACKAGE_VERSION']} is now active "
                      f"({record['ACTIVE_MODEL_PARAMETER']} = {record['DEPLOYED_MODEL_PACKAGE_ARN']}, "
                      f"was {record['PREVIOUS_MODEL_PACKAGE_ARN']})", markup=False, soft_wrap=True)
    _write_report(report, record)


def _registry_target(state):
    """A consumer's registry (its own read-only role in CI), None for any other environment."""
    from batchops.aws_session import connect_registry
    from batchops_core.settings import CONSUMER

    if state.settings.accounts.role != CONSUMER:
        return None
    return connect_registry(state.settings, home=state.home, endpoint_url=state.target.endpoint_url)


def _write_report(report: Path | None, record: dict[str, str]) -> None:
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text("".join(f"{key}={value}\n" for key, value in record.items()), encoding="utf-8")


@command(ci_app, "rollback-model")
def rollback_model(
    ctx: typer.Context,
    report: Path = typer.Option(None, "--report", help="Write a dotenv record of the rollback here."),
) -> None:
    """Reject the active version in this environment only: back to the version it used before (still Approved),
    else none. The registry and the other environments keep theirs."""
    state = state_of(ctx)
    record = ops.rollback_model(state.target, registry=_registry_target(state))
    console.print(f"{state.settings.environment}: rejected {record['REJECTED_MODEL_PACKAGE_ARN']}; active now: "
                  f"{record['RESTORED_MODEL_PACKAGE_ARN']} ({record['ACTIVE_MODEL_PARAMETER']})", markup=False,
                  soft_wrap=True)
    _write_report(report, record)


@command(ci_app, "registry-environment")
def registry_environment(ctx: typer.Context) -> None:
    """Print a consumer's registry environment (accounts.registry.environment); nothing for any other."""
    from batchops_core.settings import CONSUMER

    settings = state_of(ctx).settings
    if settings.accounts.role == CONSUMER:
        print(settings.accounts.registry.environment)


@command(ci_app, "check-deployed")
def check_deployed(
    ctx: typer.Context,
    definitions: Path = typer.Option(None, "--definitions",
                                     help="Directory of this commit's built definitions (`pipelines definitions`)."),
) -> None:
    """Promotion gate: the environment's pipelines and active-model parameter exist (and, with --definitions, the
    deployed pipelines equal this commit's). Otherwise one line per problem on stderr and exit 1. Read-only."""
    if definitions is not None and not definitions.is_dir():
        raise UserError(f"--definitions: {definitions} is not a directory")
    state = state_of(ctx)
    problems = ops.deployment_problems(state.target, definitions)
    for line in problems:
        err_console.print(line, markup=False, soft_wrap=True)
    if problems:
        raise typer.Exit(1)
    settings = state.settings
    compared = " and match this commit's definitions" if definitions else ""
    console.print(f"{settings.environment}: pipelines {', '.join(settings.pipeline_names.values())} and the "
                  f"active-model parameter are in place{compared}", markup=False, soft_wrap=True)


@command(ci_app, "teardown-pipelines")
def teardown_pipelines(ctx: typer.Context) -> None:
    """Delete the environment's pipelines and every version of the uploaded step scripts (before `infra destroy`).

    Data and registered model versions are kept; missing pipelines or bucket are not errors (repeatable)."""
    state = state_of(ctx)
    settings = state.target.settings  # the bucket name completed for the account
    deleted = ops.delete_pipelines(state.target)
    removed = ops.delete_step_scripts(state.target)
    console.print(f"{settings.environment}: deleted pipelines: {', '.join(deleted) or 'none'}; removed {removed} "
                  f"step-script object version(s) under s3://{settings.bucket}/{settings.prefixes.code}/",
                  markup=False, soft_wrap=True)
