"""`batchops config`: check env files, show the resolved settings of one environment."""

from __future__ import annotations

import json

import typer

from batchops.cli._base import command, console, group, state_of
from batchops_core.settings import ENV_DIR, env_file_path, inspect_env_file

config_app = group("config", "Validate environment files (env_files/<env>.tfvars) and show resolved settings.")


@command(config_app, "check")
def config_check(targets: list[str] = typer.Argument(None, metavar="[ENV_OR_PATH]...",
                                                     help="Environment names or .tfvars paths; default: all.")) -> None:
    """Check env files: exit 0 when all are valid, else one line per problem (file, key, expected, found), exit 1.

    Legitimate but suspicious values are printed as warnings (file, key, `warning:` text) and do not fail."""
    names = targets or sorted(str(p) for p in ENV_DIR.glob("*.tfvars"))
    failed = False
    for target in names:
        problems, warnings = inspect_env_file(target)
        for line in [*problems, *warnings]:
            console.print(line, soft_wrap=True, markup=False)
        if not problems:
            console.print(f"{env_file_path(target)}: ok", soft_wrap=True, markup=False)
        failed = failed or bool(problems)
    if failed:
        raise typer.Exit(1)


@command(config_app, "show")
def config_show(ctx: typer.Context) -> None:
    """Print the environment's settings as JSON, defaults included (what every other command uses)."""
    settings = state_of(ctx).settings
    console.print(json.dumps(settings.model_dump(mode="json"), indent=2, sort_keys=True), markup=False,
                  soft_wrap=True)
