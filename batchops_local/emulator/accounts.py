"""Accounts: which account and principal a request comes from, and credentials that act as a role.

moto keeps every service's state per account and decides a request's account itself
(moto/core/responses.py, `BaseResponse.get_current_account`): `MOTO_ACCOUNT_ID` in the emulator's environment,
else the request's `x-moto-account-id` header, else the account whose IAM backend holds the request's access key.
STS AssumeRole of a role in any account stores the keys it returns in that role's account (moto/sts/models.py),
so a client holding them acts in that account. The emulator uses exactly that mechanism; this module only reads
it (who the caller is, for cross-account policy evaluation) and obtains such keys for the runner's jobs, the
Lambda functions and clients that select an account.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

ACCOUNT_HEADER = "x-moto-account-id"
# The role AWS Organizations creates in a member account for the management account's administrators
# (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_access.html): what a client
# that asks for "account X" (Terraform, the CLI, tests) assumes there.
ADMIN_ROLE_NAME = "OrganizationAccountAccessRole"
ROLE_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/[\w+=,.@/-]+$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
SESSION_SECONDS = 3600  # AssumeRole's default, allowed by every role's MaxSessionDuration (moto expires nothing)


def install(patcher: Any) -> None:
    from moto.iam import models as iam_models

    patcher.replace(iam_models, "get_account_id_from", account_of_access_key)


def account_of_access_key(access_key: str) -> str:
    """moto's lookup of a request's account by its access key (`moto.iam.models.get_account_id_from`, step 3
    above), reading only the IAM backends that exist: moto's own indexes `backends[partition]`, which builds the
    IAM backend of every partition of every account it has seen (each with 1,582 AWS-managed policies: seconds
    for each new account) merely to find them empty. A backend not built yet holds no keys, so the answer is
    the same."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    for account_id, partitions in list(iam_backends.items()):
        for backend in list(dict.values(partitions)):
            if access_key in backend.access_keys:
                return account_id
    return DEFAULT_ACCOUNT_ID


def default_account_id() -> str:
    """moto's account when a request names none (123456789012): the single-account mode's account."""
    from moto.core import DEFAULT_ACCOUNT_ID

    return DEFAULT_ACCOUNT_ID


def check_account_id(account_id: str, what: str = "account id") -> str:
    if not isinstance(account_id, str) or not ACCOUNT_ID.match(account_id):
        raise ValueError(f"{what} must be 12 digits, got {account_id!r}")
    return account_id


def check_role_arn(role_arn: str, what: str = "role ARN") -> re.Match[str]:
    match = ROLE_ARN.match(role_arn or "") if isinstance(role_arn, str) else None
    if match is None:
        raise ValueError(f"{what} must be an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>), got {role_arn!r}")
    return match


def admin_role_arn(account_id: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{check_account_id(account_id)}:role/{ADMIN_ROLE_NAME}"


@dataclass(frozen=True)
class Caller:
    """Who made a request: its account and the principal policies name (an assumed role's session, an IAM user,
    or the account's root for keys moto does not know, such as the dummy `test` keys)."""

    account_id: str
    partition: str
    arn: str
    role_arn: str | None = None  # the IAM role behind an assumed-role session

    @property
    def account_root(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:root"

    @property
    def is_root(self) -> bool:
        return self.arn == self.account_root


def caller_of(response: Any) -> Caller:
    """The caller of the request a moto response object is handling (after moto's `setup_class`)."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends
    from moto.utilities.utils import get_partition

    account = getattr(response, "current_account", None) or response.get_current_account()
    partition = get_partition(getattr(response, "region", None) or "us-east-1")
    access_key = response.get_access_key()
    if account in sts_backends:
        assumed = sts_backends[account][partition].get_assumed_role_from_access_key(access_key)
        if assumed is not None:
            return Caller(account, partition, assumed.arn, assumed.role_arn)
    if account in iam_backends:
        user = iam_backends[account][partition].get_user_from_access_key_id(access_key)
        if user is not None:
            return Caller(account, partition, user.arn)
    return Caller(account, partition, f"arn:{partition}:iam::{account}:root")


# ------------------------------------------------------------------------------------------- credentials

_cache: dict[tuple[str, str], dict[str, str]] = {}
_cache_lock = threading.Lock()


@contextmanager
def answered_by(response: Any, owner_account: str) -> Iterator[None]:
    """moto's backends follow a response's `current_account`: within this block the owner account answers a
    cross-account request the emulator has allowed (its registry, its keys), then the caller's account is back."""
    caller_account = response.current_account
    response.current_account = owner_account
    try:
        yield
    finally:
        response.current_account = caller_account


def role_credentials(role_arn: str, region: str, session_name: str) -> dict[str, str]:
    """Environment variables with keys of an AssumeRole session of `role_arn` (in this process, as the service
    that assumes the role: SageMaker for a job, Lambda for a function). The same role and session name get the
    same keys while moto still knows them, so a warm Lambda environment keeps its configuration."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends
    from moto.utilities.utils import get_partition

    match = check_role_arn(role_arn)
    account = match.group(2)
    partition = get_partition(region)
    with _cache_lock:
        cached = _cache.get((role_arn, session_name))
        if cached is not None and cached["AWS_ACCESS_KEY_ID"] in iam_backends[account][partition].access_keys:
            return dict(cached)
        assumed = sts_backends[account][partition].assume_role(
            region_name=region, role_session_name=session_name, role_arn=role_arn, policy=None,
            duration=SESSION_SECONDS, external_id=None,
        )
        credentials = {"AWS_ACCESS_KEY_ID": assumed.access_key_id,
                       "AWS_SECRET_ACCESS_KEY": assumed.secret_access_key,
                       "AWS_SESSION_TOKEN": assumed.session_token}
        _cache[(role_arn, session_name)] = credentials
        return dict(credentials)


def assume_role_over_http(endpoint_url: str, region: str, role_arn: str, session_name: str) -> dict[str, str]:
    """The same keys as `role_credentials`, asked of the emulator's STS with boto3 (from any process)."""
    import boto3

    check_role_arn(role_arn)
    sts = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=region).client(
        "sts", endpoint_url=endpoint_url)
    answer = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=SESSION_SECONDS)
    keys = answer["Credentials"]
    return {"AWS_ACCESS_KEY_ID": keys["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": keys["SecretAccessKey"],
            "AWS_SESSION_TOKEN": keys["SessionToken"]}


def select_account(client: Any, account_id: str) -> Any:
    """Send every request of a boto3 client as `account_id` (moto's `x-moto-account-id` header)."""
    check_account_id(account_id)

    def add_header(request: Any, **_: Any) -> None:
        request.headers[ACCOUNT_HEADER] = account_id

    client.meta.events.register_first("before-sign.*.*", add_header)
    return client
