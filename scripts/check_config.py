#!/usr/bin/env python3
"""Validate environment files: `check_config.py [ENV_OR_PATH ...]` (default: every env_files/*.tfvars).

Exit 0 when every file is valid; otherwise print one line per problem (file, key, expected, found) and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from batchops_core.settings import ENV_DIR, check_env_file, env_file_path  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help="environment name (local, dev, ...) or path to a .tfvars file")
    args = parser.parse_args(argv)
    targets = args.targets or sorted(str(p) for p in ENV_DIR.glob("*.tfvars"))
    failed = False
    for target in targets:
        problems = check_env_file(target)
        if problems:
            failed = True
            for line in problems:
                print(line)
        else:
            print(f"{env_file_path(target)}: ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
