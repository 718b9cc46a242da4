"""Fixtures for the Terraform tests: the local settings and one adapter home per test session."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# The suite imports tests with importlib (folders are not on sys.path): add this one for its helper modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from batchops.terraform import Terraform
from batchops_core.settings import ENV_DIR, Settings, load_settings


@pytest.fixture(scope="session")
def local_settings() -> Settings:
    return load_settings("local")


@pytest.fixture(scope="session")
def offline_terraform(tmp_path_factory: pytest.TempPathFactory, local_settings: Settings) -> Terraform:
    """An initialised adapter for commands that touch no AWS endpoint (fmt, validate, test)."""
    home = tmp_path_factory.mktemp("terraform-home")
    terraform = Terraform(local_settings, home=home, endpoint_env=None)
    terraform.init()
    return terraform



def _write_env_file(directory: Path, environment: str, name: str | None = None) -> Path:
    """env_files/local.tfvars as another emulated environment: its explicit names follow the new name."""
    text = (ENV_DIR / "local.tfvars").read_text(encoding="utf-8")
    text = text.replace('environment = "local"', f'environment = "{environment}"', 1)
    text = text.replace('"abalone-local-', f'"abalone-{environment}-')
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name or environment}.tfvars"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def write_env_file() -> Callable[..., Path]:
    """`write_env_file(directory, environment, name=None)`: a second emulated env file (see _write_env_file)."""
    return _write_env_file
