"""Fixtures for the Terraform tests: the local settings and one adapter home per test session."""

from __future__ import annotations

import pytest

from batchops.terraform import Terraform
from batchops_core.settings import Settings, load_settings


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

