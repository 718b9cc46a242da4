"""boto3 sessions and clients for one environment.

An emulated environment (`emulated = true`; by default the one named `local`) talks to the emulator whose
endpoint is recorded in `<BATCHOPS_HOME>/emulator.json` (or one given explicitly, e.g. by an in-process
emulator); one emulator holds any number of emulated environments, told apart by their derived names. Every
other environment uses the normal AWS credential chain (environment, profile, SSO, instance/OIDC role) and the
region from its env file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from batchops.errors import UserError
from batchops_core.settings import PROJECT_ROOT, Settings
from batchops_local.emulator.contracts import client_environment

LOCAL_ACCOUNT_ID = "123456789012"  # an emulated environment's account unless accounts.account_id names one
EMULATOR_ACCOUNT_HEADER = "x-moto-account-id"  # the account an emulator request is served as
# A consumer's CI job reads its registry with this role (by the job's OIDC token): docs/gitlab-ci.md.
REGISTRY_ROLE_VARIABLE = "AWS_REGISTRY_ROLE_ARN"
EMULATOR_INFO_FILE = "emulator.json"


class AwsTargetError(UserError):
    """The environment's AWS endpoint cannot be reached or is not configured."""


def batchops_home(explicit: str | Path | None = None) -> Path:
    """Local state directory: explicit value, else `BATCHOPS_HOME`, else `<repo>/.local`."""
    value = explicit or os.environ.get("BATCHOPS_HOME") or PROJECT_ROOT / ".local"
    return Path(value).expanduser().resolve()


def running_emulator(home: Path) -> dict[str, Any] | None:
    """The `{pid, port, endpoint_url, ...}` record of the background emulator of `home` if it answers, else None."""
    from batchops_local.runtime import status

    return status(home)


class _EndpointSession(boto3.Session):
    """A boto3 session whose clients and resources all go to one endpoint (the emulator).

    Callers that only accept a session (the SageMaker SDK, the pipeline upsert) then reach the emulator
    without depending on the process environment.
    """

    def __init__(self, endpoint_url: str, account_id: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.endpoint_url = endpoint_url
        self.account_id = account_id
        if account_id:  # the emulator serves several accounts: each request names its own (moto's header)
            self.events.register("before-sign", self._name_account)

    def _name_account(self, request: Any, **_: Any) -> None:
        request.headers[EMULATOR_ACCOUNT_HEADER] = self.account_id

    def client(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        kwargs.setdefault("endpoint_url", self.endpoint_url)
        kwargs.setdefault("config", Config(retries={"max_attempts": 2, "mode": "standard"}))
        return super().client(*args, **kwargs)

    def resource(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        kwargs.setdefault("endpoint_url", self.endpoint_url)
        return super().resource(*args, **kwargs)


@dataclass
class AwsTarget:
    """Where one environment's AWS calls go: a session, and the emulator endpoint of an emulated one."""

    settings: Settings
    session: boto3.Session
    endpoint_url: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _account_id: str | None = field(default=None, repr=False)

    @property
    def is_local(self) -> bool:
        return self.endpoint_url is not None

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = self.session.client(service)
        return self._clients[service]

    @property
    def account_id(self) -> str:
        if self._account_id is None:
            self._account_id = (self.settings.accounts.account_id or LOCAL_ACCOUNT_ID) if self.is_local else (
                self.client("sts").get_caller_identity()["Account"])
        return self._account_id

    def subprocess_env(self) -> dict[str, str]:
        """Variables a child process (Terraform) needs to reach the same target; empty for real AWS. An emulated
        environment with accounts.account_id gets keys of that account's administrator role (AssumeRole keys
        act in the role's account: batchops_local/emulator/README.md, "Several accounts")."""
        if not self.endpoint_url:
            return {}
        env = client_environment(self.endpoint_url, self.settings.region)
        if self.settings.accounts.account_id:
            from batchops_local.emulator import accounts

            env.update(accounts.assume_role_over_http(
                self.endpoint_url, self.settings.region, accounts.admin_role_arn(self.settings.accounts.account_id),
                "batchops-local"))
        return env


def connect(settings: Settings, *, home: Path | None = None, endpoint_url: str | None = None) -> AwsTarget:
    """Sessions for `settings.environment`: the emulator when it is emulated, the credential chain otherwise.

    With `storage.bucket_name_suffix` set, the target's settings carry the bucket name completed for the account
    the credentials belong to (one STS call)."""
    target = _connect(settings, home=home, endpoint_url=endpoint_url)
    expected = settings.accounts.account_id
    if expected and not target.is_local and target.account_id != expected:
        raise AwsTargetError(f"the AWS credentials belong to account {target.account_id}, environment "
                             f"'{settings.environment}' lives in {expected} (accounts.account_id in "
                             f"{settings.source_file}): use that account's credentials or role")
    if settings.storage.bucket_name_suffix:
        target.settings = settings.for_account(target.account_id)
    return target


def _connect(settings: Settings, *, home: Path | None, endpoint_url: str | None) -> AwsTarget:
    if not settings.emulated:
        if endpoint_url:
            raise AwsTargetError(f"an emulator endpoint is only used for emulated environments, not "
                                 f"'{settings.environment}' ({settings.source_file}: emulated = false)")
        return AwsTarget(settings, boto3.Session(region_name=settings.region))
    if endpoint_url is None:
        home = batchops_home(home)
        info = running_emulator(home)
        if info is None:
            raise AwsTargetError(f"the local emulator is not running (no live process recorded in "
                                 f"{home / EMULATOR_INFO_FILE}); start it with `batchops emulator up`")
        endpoint_url = info["endpoint_url"]
    session = _EndpointSession(endpoint_url, settings.accounts.account_id or None, aws_access_key_id="test",
                               aws_secret_access_key="test", region_name=settings.region)
    return AwsTarget(settings, session, endpoint_url)


def registry_settings(settings: Settings) -> Settings:
    """A consumer's registry environment: its env file beside the consumer's (env_files/ by default)."""
    from batchops_core.settings import CONSUMER, load_settings

    if settings.accounts.role != CONSUMER:
        raise AwsTargetError(f"environment '{settings.environment}' is no consumer (accounts.role = "
                             f"{settings.accounts.role}): it has no registry")
    name = settings.accounts.registry.environment
    folder = settings.source_file.parent if settings.source_file else PROJECT_ROOT / "env_files"
    registry = load_settings(folder / f"{name}.tfvars")
    if registry.accounts.account_id and registry.accounts.account_id != settings.accounts.registry.account_id:
        raise AwsTargetError(f"{registry.source_file}: accounts.account_id {registry.accounts.account_id} is not "
                             f"the registry account {settings.accounts.registry.account_id} of "
                             f"{settings.source_file}")
    return registry


def connect_registry(settings: Settings, *, home: Path | None = None, endpoint_url: str | None = None) -> AwsTarget:
    """A consumer's registry, read-only: in CI with the role named by AWS_REGISTRY_ROLE_ARN (assumed with the job's
    OIDC token, AWS_WEB_IDENTITY_TOKEN_FILE), otherwise with the credential chain (or the emulator)."""
    registry = registry_settings(settings)
    role = os.environ.get(REGISTRY_ROLE_VARIABLE, "").strip()
    if registry.emulated or not role:
        return connect(registry, home=home, endpoint_url=endpoint_url if registry.emulated else None)
    token_file = os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE", "")
    if not token_file or not Path(token_file).is_file():
        raise AwsTargetError(f"{REGISTRY_ROLE_VARIABLE} is set but AWS_WEB_IDENTITY_TOKEN_FILE names no token file: "
                             "the job needs its OIDC id token (docs/gitlab-ci.md)")
    # AssumeRoleWithWebIdentity is called without credentials: the token is the proof.
    sts = boto3.client("sts", region_name=registry.region)
    credentials = sts.assume_role_with_web_identity(
        RoleArn=role, RoleSessionName=os.environ.get("AWS_ROLE_SESSION_NAME", "batchops-registry")[:64],
        WebIdentityToken=Path(token_file).read_text(encoding="utf-8").strip())["Credentials"]
    session = boto3.Session(aws_access_key_id=credentials["AccessKeyId"],
                            aws_secret_access_key=credentials["SecretAccessKey"],
                            aws_session_token=credentials["SessionToken"], region_name=registry.region)
    target = AwsTarget(registry, session)
    if registry.accounts.account_id and target.account_id != registry.accounts.account_id:
        raise AwsTargetError(f"{REGISTRY_ROLE_VARIABLE}={role} is a role of account {target.account_id}, the registry "
                             f"'{registry.environment}' lives in {registry.accounts.account_id}")
    return target
