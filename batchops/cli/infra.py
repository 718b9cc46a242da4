"""`batchops infra`: Terraform for the environment, through the one adapter (batchops/terraform.py).

Exit codes: 0 done; 2 refused (bad configuration or arguments, missing or changed plan artifacts, an
unconfirmed destroy, no emulator for an emulated environment, a plan that would destroy another environment's
resources or the data bucket without --allow-foreign-destroy / --allow-bucket-replacement) or, with
`plan --exit-code`, changes pending; 3 `checks` found unformatted files; 1 Terraform failed.

Real environments take their backend from --backend / --backend-config (or BATCHOPS_TF_BACKEND /
BATCHOPS_TF_BACKEND_CONFIG) and their credentials from the usual variables (OIDC web identity in CI,
TF_HTTP_PASSWORD for GitLab-managed state). Emulated environments (`emulated = true`, by default `local`) run
against the emulator (AWS_ENDPOINT_URL, else the one `batchops emulator up` started), keep their state under
<home>/terraform/<env file>/ and never use the caller's credentials.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from batchops.cli._base import command, console, err_console, group, state_of
from batchops.errors import UserError

infra_app = group("infra", "Terraform for the environment (through the one Terraform adapter).")

MODULE_DIR = typer.Option(None, "--module-dir", help="Terraform root module (default: the repository's terraform/).")
BACKEND = typer.Option(None, "--backend", help="State backend: local, http or s3 (default: BATCHOPS_TF_BACKEND; "
                                               "local for emulated environments).")
BACKEND_CONFIG = typer.Option(None, "--backend-config", metavar="KEY=VALUE|FILE",
                              help="Backend setting, repeatable (default: BATCHOPS_TF_BACKEND_CONFIG); no credentials.")
LOCK_TIMEOUT = typer.Option(None, "--lock-timeout", envvar="BATCHOPS_TF_LOCK_TIMEOUT",
                            help="How long to wait for the state lock (default 60s).")
ALLOW_FOREIGN = typer.Option(False, "--allow-foreign-destroy",
                             help="Accept a plan that deletes or replaces resources tagged with another project or "
                                  "environment (refused by default: the state is probably another env file's).")
ALLOW_BUCKET = typer.Option(False, "--allow-bucket-replacement",
                            help="Accept a plan that deletes or replaces the data bucket (and its objects).")


def _say(line: str) -> None:
    console.print(f"  {line}", markup=False, soft_wrap=True)


def _terraform(ctx: typer.Context, *, module_dir: Path | None, backend: str | None,
               backend_config: list[str] | None, lock_timeout: str | None, needs_target: bool,
               any_remote_backend: bool = False, allow_foreign_destroy: bool = False,
               allow_bucket_replacement: bool = False):
    """The adapter for the environment; `needs_target` connects an emulated one to its emulator first."""
    from batchops.terraform import REMOTE_BACKENDS, TERRAFORM_DIR, Terraform

    state = state_of(ctx)
    settings = state.settings
    if backend is not None and backend not in ("local", *REMOTE_BACKENDS):
        raise UserError(f"--backend '{backend}': expected one of local, {', '.join(REMOTE_BACKENDS)}")
    chosen = backend or os.environ.get("BATCHOPS_TF_BACKEND")
    if any_remote_backend and not settings.emulated and not chosen:
        backend = REMOTE_BACKENDS[0]  # checks init with -backend=false: any remote type stages the same root
    endpoint_env = None
    if needs_target and settings.emulated:
        endpoint_env = state.target.subprocess_env()
    return Terraform(settings, home=state.home, endpoint_env=endpoint_env, progress=_say, backend=backend,
                     backend_config=backend_config or (), module_dir=module_dir or TERRAFORM_DIR,
                     lock_timeout=lock_timeout or "60s", allow_foreign_destroy=allow_foreign_destroy,
                     allow_bucket_replacement=allow_bucket_replacement)


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@command(infra_app, "init")
def infra_init(ctx: typer.Context, module_dir: Path = MODULE_DIR, backend: str = BACKEND,
               backend_config: list[str] = BACKEND_CONFIG, lock_timeout: str = LOCK_TIMEOUT) -> None:
    """Install providers (from a filesystem mirror when found) and configure the environment's backend."""
    _terraform(ctx, module_dir=module_dir, backend=backend, backend_config=backend_config,
               lock_timeout=lock_timeout, needs_target=False).init()
    console.print("initialised")


@command(infra_app, "plan")
def infra_plan(
    ctx: typer.Context,
    out: Path = typer.Option(None, "--out", help="Save the plan here (its Lambda manifest goes beside it); "
                                                 "default <home>/terraform/<env file>/last.tfplan."),
    report: Path = typer.Option(None, "--report", help="Write GitLab's Terraform report {create, update, delete}."),
    text: Path = typer.Option(None, "--text", help="Write the human-readable plan here."),
    exit_code: bool = typer.Option(False, "--exit-code", help="Exit 2 when there are changes (drift checks)."),
    module_dir: Path = MODULE_DIR, backend: str = BACKEND, backend_config: list[str] = BACKEND_CONFIG,
    lock_timeout: str = LOCK_TIMEOUT, allow_foreign_destroy: bool = ALLOW_FOREIGN,
    allow_bucket_replacement: bool = ALLOW_BUCKET,
) -> None:
    """Plan against the environment's state and save the plan for `infra apply --plan`."""
    for path in (out, report, text):  # a failed plan must not leave an older one looking current
        if path is not None:
            path.unlink(missing_ok=True)
    terraform = _terraform(ctx, module_dir=module_dir, backend=backend, backend_config=backend_config,
                           lock_timeout=lock_timeout, needs_target=True, allow_foreign_destroy=allow_foreign_destroy,
                           allow_bucket_replacement=allow_bucket_replacement)
    summary = terraform.plan(out=out)
    console.print(f"plan: {summary}")
    plan_file = out.resolve() if out else terraform.default_plan_file
    if report:
        _write_text(report, json.dumps(summary.gitlab_report()) + "\n")
    if text:
        _write_text(text, terraform.show_plan_text(plan_file))
    if exit_code and summary.has_changes:
        raise typer.Exit(2)


@command(infra_app, "apply")
def infra_apply(
    ctx: typer.Context,
    plan: Path = typer.Option(None, "--plan", help="Apply exactly this saved plan (its Lambda zips are checked)."),
    module_dir: Path = MODULE_DIR, backend: str = BACKEND, backend_config: list[str] = BACKEND_CONFIG,
    lock_timeout: str = LOCK_TIMEOUT, allow_foreign_destroy: bool = ALLOW_FOREIGN,
    allow_bucket_replacement: bool = ALLOW_BUCKET,
) -> None:
    """Create or update the infrastructure; with --plan, exactly the reviewed plan (checked like every plan)."""
    terraform = _terraform(ctx, module_dir=module_dir, backend=backend, backend_config=backend_config,
                           lock_timeout=lock_timeout, needs_target=True, allow_foreign_destroy=allow_foreign_destroy,
                           allow_bucket_replacement=allow_bucket_replacement)
    outputs = terraform.apply(plan_file=plan)
    console.print(f"applied: {len(outputs)} outputs")


@command(infra_app, "destroy")
def infra_destroy(
    ctx: typer.Context,
    confirm: str = typer.Option(None, "--confirm", envvar="BATCHOPS_CONFIRM_DESTROY",
                                help="A real (not emulated) environment's name, typed again (or "
                                     "BATCHOPS_CONFIRM_DESTROY)."),
    module_dir: Path = MODULE_DIR, backend: str = BACKEND, backend_config: list[str] = BACKEND_CONFIG,
    lock_timeout: str = LOCK_TIMEOUT,
) -> None:
    """Remove everything Terraform created for the environment (real ones need --confirm <env>)."""
    from batchops.terraform import TerraformRefusal

    settings = state_of(ctx).settings
    environment = settings.environment
    if not settings.emulated and confirm != environment:
        raise TerraformRefusal(f"refusing to destroy '{environment}': confirm with --confirm {environment} "
                               f"(or BATCHOPS_CONFIRM_DESTROY={environment})")
    _terraform(ctx, module_dir=module_dir, backend=backend, backend_config=backend_config,
               lock_timeout=lock_timeout, needs_target=True).destroy()
    console.print("destroyed")


@command(infra_app, "validate")
def infra_validate(ctx: typer.Context, module_dir: Path = MODULE_DIR, backend: str = BACKEND,
                   backend_config: list[str] = BACKEND_CONFIG, lock_timeout: str = LOCK_TIMEOUT) -> None:
    """`terraform validate` (after init with the environment's backend); every diagnostic when invalid."""
    _terraform(ctx, module_dir=module_dir, backend=backend, backend_config=backend_config,
               lock_timeout=lock_timeout, needs_target=False).validate()
    console.print("validate: the configuration is valid")


@command(infra_app, "test")
def infra_test(ctx: typer.Context, module_dir: Path = MODULE_DIR, backend: str = BACKEND,
               backend_config: list[str] = BACKEND_CONFIG, lock_timeout: str = LOCK_TIMEOUT) -> None:
    """`terraform test` (the module's tests/*.tftest.hcl, mocked provider) with the environment's variables."""
    terraform = _terraform(ctx, module_dir=module_dir, backend=backend, backend_config=backend_config,
                           lock_timeout=lock_timeout, needs_target=False)
    terraform.build_lambda_packages()  # the tests evaluate filebase64sha256 over the zips
    terraform.test()


@command(infra_app, "output")
def infra_output(ctx: typer.Context, module_dir: Path = MODULE_DIR, backend: str = BACKEND,
                 backend_config: list[str] = BACKEND_CONFIG, lock_timeout: str = LOCK_TIMEOUT) -> None:
    """The environment's Terraform outputs as JSON."""
    outputs = _terraform(ctx, module_dir=module_dir, backend=backend, backend_config=backend_config,
                         lock_timeout=lock_timeout, needs_target=False).output()
    console.print(json.dumps(outputs, indent=2, sort_keys=True), markup=False, soft_wrap=True)


@command(infra_app, "checks")
def infra_checks(ctx: typer.Context, module_dir: Path = MODULE_DIR, backend: str = BACKEND,
                 backend_config: list[str] = BACKEND_CONFIG, lock_timeout: str = LOCK_TIMEOUT) -> None:
    """fmt -check (exit 3 when a file is not formatted), then validate and `terraform test` without any backend."""
    terraform = _terraform(ctx, module_dir=module_dir, backend=backend, backend_config=backend_config,
                           lock_timeout=lock_timeout, needs_target=False, any_remote_backend=True)
    unformatted = terraform.fmt_check()
    if unformatted:
        err_console.print(f"error: not formatted: {', '.join(unformatted)} (run `terraform fmt -recursive` in "
                          f"{terraform.module_dir})", markup=False, soft_wrap=True)
        raise typer.Exit(3)
    terraform.check_module_tests()
    terraform.build_lambda_packages()  # `terraform test` evaluates filebase64sha256 over the zips
    terraform.init(backend=False)
    terraform.validate()
    console.print("validate: the configuration is valid")
    terraform.test()  # streams its output through the progress callback
