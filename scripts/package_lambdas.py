#!/usr/bin/env python3
"""Build the two Lambda zips: `package_lambdas.py [--out DIR]` (default terraform/build/lambda).

Prints one line per zip: name, path, size in bytes and sha256. Building twice gives identical bytes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from batchops.lambda_package import PackagingError, build_lambda_zips, sha256_of  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "terraform" / "build" / "lambda"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    try:
        zips = build_lambda_zips(args.out)
    except PackagingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, path in zips.items():
        print(f"{name:<17} {path}  {path.stat().st_size:>8} bytes  sha256 {sha256_of(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
