#!/usr/bin/env python3
"""Write the three pipeline definitions: `write_definitions.py --env local --out DIR [--account-id ID]`.

Built offline (no AWS call) and deterministic; one `<pipeline name>.json` per pipeline. Exit 0 on success,
2 on a bad argument or configuration.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from batchops.aws_session import LOCAL_ACCOUNT_ID  # noqa: E402
from batchops_core.settings import ConfigError, load_settings  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="environment name (local, dev, ...) or path to a .tfvars file")
    parser.add_argument("--out", required=True, type=Path, help="directory for the <pipeline name>.json files")
    parser.add_argument("--account-id", help=f"AWS account of the role ARNs (default for local: {LOCAL_ACCOUNT_ID})")
    args = parser.parse_args(argv)
    if args.account_id is not None and not re.fullmatch(r"\d{12}", args.account_id):
        parser.error(f"--account-id: expected 12 digits, found '{args.account_id}'")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out: {args.out} exists and is not a directory")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings(args.env)
    except ConfigError as error:
        print("\n".join(error.problems), file=sys.stderr)
        return 2
    account_id = args.account_id or (LOCAL_ACCOUNT_ID if settings.environment == "local" else None)
    if account_id is None:
        print(f"--account-id is required for the '{settings.environment}' environment "
              "(the role ARNs in the definitions name the account)", file=sys.stderr)
        return 2
    from pipelines.definitions import build_definitions

    definitions = build_definitions(settings, account_id=account_id)
    args.out.mkdir(parents=True, exist_ok=True)
    for key, text in definitions.items():
        path = args.out / f"{settings.pipeline_names[key]}.json"
        path.write_text(text, encoding="utf-8")
        print(f"{key}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
