"""The suite runs with --import-mode=importlib (test folders are not on sys.path): this folder is added so
the CI tests can import their uniquely named helper modules (gitlab_ci_model, ci_testkit)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
