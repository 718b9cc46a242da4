"""Fixtures shared across test directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchops_core.results import ClassificationSummary

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def classification_summaries() -> dict[str, ClassificationSummary]:
    """Realistic gate summaries by problem type: 'binary' (benign/malignant) and 'multiclass' (three iris species)."""
    document = json.loads((FIXTURES / "classification_summaries.json").read_text(encoding="utf-8"))
    return {name: ClassificationSummary(**summary) for name, summary in document.items() if not name.startswith("_")}
