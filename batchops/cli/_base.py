"""What every command group shares: the root app, the per-invocation state, and the error policy.

Error policy (one place): a user error (`batchops.errors.UserError`, a configuration error, an AWS answer with
a clear meaning such as a missing resource or refused credentials) is printed as ONE line `error: ...` on
stderr and exits 2. A known failure of a tool the command drives (Terraform, the Lambda packager) prints its
message and exits 1. Anything else is unexpected: its traceback is kept and the exit code is 1.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from botocore import exceptions as boto_errors
from botocore.exceptions import ClientError
from rich.console import Console
from rich.markup import escape

from batchops.aws_session import AwsTarget, batchops_home, connect
from batchops.errors import UserError
from batchops_core.settings import ConfigError, Settings, load_settings

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

# AWS error codes whose meaning is clear to the user (a missing or refused resource, rejected credentials).
USER_ERROR_CODES = {
    "ResourceNotFound", "ResourceNotFoundException", "ValidationException", "ValidationError", "NoSuchBucket",
    "NoSuchKey", "NotFound", "404", "ParameterNotFound", "AccessDenied", "AccessDeniedException",
    "UnauthorizedOperation", "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId",
    "UnrecognizedClientException", "ResourceInUse", "ConflictException", "ResourceLimitExceeded",
}
# botocore errors about the caller's set-up (credentials, region, endpoint), not about this program.
USER_BOTOCORE_ERRORS = (
    boto_errors.NoCredentialsError, boto_errors.PartialCredentialsError, boto_errors.NoRegionError,
    boto_errors.ProfileNotFound, boto_errors.EndpointConnectionError, boto_errors.CredentialRetrievalError,
    boto_errors.SSOError, boto_errors.TokenRetrievalError,
)


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message of a user error, or None when `exc` is not one (then it is unexpected)."""
    from batchops_local.runtime import LocalRuntimeError

    if isinstance(exc, ConfigError):
        text = "; ".join(exc.problems)
    elif isinstance(exc, (UserError, LocalRuntimeError)):
        text = str(exc)
    elif isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        if error.get("Code") not in USER_ERROR_CODES:
            return None
        text = f"{exc.operation_name} failed: {error.get('Code')}: {error.get('Message') or exc}"
    elif isinstance(exc, boto_errors.EndpointConnectionError) and "127.0.0.1" in str(exc):
        text = f"{exc}: is the local emulator still running? (`batchops emulator status`)"
    elif isinstance(exc, USER_BOTOCORE_ERRORS):
        text = f"AWS client set-up: {exc}"
    else:
        return None
    return " ".join(text.split()) or type(exc).__name__


def _known_failures() -> tuple[type[BaseException], ...]:
    from batchops.lambda_package import PackagingError
    from batchops.terraform import TerraformError

    return (TerraformError, PackagingError)


def command(group: typer.Typer, name: str | None = None, **options: Any) -> Callable:
    """Register a command under the error policy of this module."""

    def register(func: Callable) -> Callable:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except Exception as exc:  # classified below; anything unclassified is re-raised untouched
                if isinstance(exc, (typer.Exit, typer.Abort)) or type(exc).__module__.startswith("click"):
                    raise
                message = user_error_message(exc)
                if message is not None:
                    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
                    raise typer.Exit(2) from None
                if isinstance(exc, _known_failures()):
                    err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
                    raise typer.Exit(1) from None
                raise

        return group.command(name, **options)(run)

    return register


@dataclass
class CliState:
    env: str
    home: Path
    _settings: Settings | None = field(default=None, repr=False)
    _target: AwsTarget | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.env)
        return self._settings

    @property
    def target(self) -> AwsTarget:
        """The environment's AWS target; an emulated one honours AWS_ENDPOINT_URL before the emulator record (CI
        tests and wrappers point it at an emulator that `batchops emulator up` did not start)."""
        if self._target is None:
            endpoint = os.environ.get("AWS_ENDPOINT_URL") if self.settings.emulated else None
            if endpoint and not endpoint.startswith(("http://", "https://")):
                raise UserError(f"AWS_ENDPOINT_URL: expected an http(s):// URL, found '{endpoint}'")
            self._target = connect(self.settings, home=self.home, endpoint_url=endpoint or None)
        return self._target


def state_of(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):  # commands invoked without the root callback (tests of one group)
        root.obj = CliState(env=os.environ.get("BATCHOPS_ENV") or "local", home=batchops_home())
    return root.obj


app = typer.Typer(
    help="Batch-inference MLOps on Amazon SageMaker, Terraform-first, runnable offline. "
         "Start with `batchops demo`. Exit codes: 0 ok, 2 user error (one line on stderr), 1 failure.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    env: str = typer.Option("local", "--env", "-e", envvar="BATCHOPS_ENV",
                            help="Environment: a name (env_files/<env>.tfvars: local, dev, ...) or a .tfvars path."),
    home: Path = typer.Option(None, "--home", envvar="BATCHOPS_HOME", show_default="<repo>/.local",
                              help="Local state directory (emulator record, runs, outbox, Terraform state)."),
) -> None:
    ctx.obj = CliState(env=env, home=batchops_home(home))


def group(name: str, help_text: str) -> typer.Typer:
    sub = typer.Typer(help=help_text, no_args_is_help=True, add_completion=False)
    app.add_typer(sub, name=name)
    return sub


def fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def fmt_seconds(value: float | None) -> str:
    return f"{value:.1f} s" if value is not None else "-"


def fmt_status(status: str) -> str:
    colour = {"Succeeded": "green", "Approved": "green", "Failed": "red", "Rejected": "red",
              "Executing": "yellow", "Starting": "yellow", "PendingManualApproval": "yellow",
              "Stopped": "magenta"}.get(status, "white")
    return f"[{colour}]{escape(status)}[/{colour}]"


def check_account_id(value: str | None, option: str = "--account-id") -> str | None:
    """The one check of an AWS account id given on the command line."""
    if value is not None and not (len(value) == 12 and value.isdigit()):
        raise UserError(f"{option}: expected 12 digits, found '{value}'")
    return value
