#!/usr/bin/env python3
"""Create or update the three SageMaker pipelines of an environment: `upsert_pipelines.py --env local`.

`local` goes to the running emulator (or `--endpoint-url` / AWS_ENDPOINT_URL); other environments use the normal
AWS credential chain. Exit 0 on success, 1 when AWS refuses a call, 2 on a bad argument, configuration or target.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

from batchops.aws_session import AwsTargetError, connect  # noqa: E402
from batchops_core.settings import ConfigError, load_settings  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="environment name (local, dev, ...) or path to a .tfvars file")
    parser.add_argument("--endpoint-url", help="local only: the emulator endpoint (default: AWS_ENDPOINT_URL, "
                                               "else the running emulator)")
    parser.add_argument("--account-id", help="AWS account of the role ARNs (default: the caller's account)")
    args = parser.parse_args(argv)
    if args.account_id is not None and not re.fullmatch(r"\d{12}", args.account_id):
        parser.error(f"--account-id: expected 12 digits, found '{args.account_id}'")
    if args.endpoint_url is not None and not re.match(r"^https?://", args.endpoint_url):
        parser.error(f"--endpoint-url: expected an http(s):// URL, found '{args.endpoint_url}'")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings(args.env)
    except ConfigError as error:
        print("\n".join(error.problems), file=sys.stderr)
        return 2
    endpoint_url = args.endpoint_url
    if endpoint_url is None and settings.environment == "local":
        endpoint_url = os.environ.get("AWS_ENDPOINT_URL") or None
    try:
        target = connect(settings, endpoint_url=endpoint_url)
    except AwsTargetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from pipelines.upsert import upsert_pipelines

    try:
        results = upsert_pipelines(settings, boto_session=target.session,
                                   account_id=args.account_id or target.account_id)
    except (ClientError, BotoCoreError) as error:
        print(f"error: AWS refused the upsert: {error}", file=sys.stderr)
        return 1
    for result in results:
        print(f"{result.pipeline}: {result.action}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
