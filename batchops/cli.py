"""Placeholder CLI until the real one lands."""
import sys


def main() -> None:
    print("batchops: CLI not built yet", file=sys.stderr)
    sys.exit(1)
