"""Fixtures of the Lambda tests live in lambda_testkit, which the test modules also import helpers from.

The suite runs with --import-mode=importlib (test folders are not on sys.path), so this folder is added
for that one uniquely named module.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lambda_testkit import aws, local_server, stack, stub_sagemaker  # noqa: E402, F401
