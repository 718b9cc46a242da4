"""Fixtures for the data-quality engine tests: CSV writers and seeded dataset generators."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# The helper modules beside this file (engine_step), importable by the test modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))

CATEGORIES = ["red", "green", "blue"]


def _make_frame(rows: int, seed: int, *, shift: float = 0.0, category_shares=(0.5, 0.3, 0.2)) -> pd.DataFrame:
    """A realistic small dataset: one categorical, one integer and two fractional features."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "colour": rng.choice(CATEGORIES, size=rows, p=list(category_shares)),
        "count": rng.poisson(4.0 + 3 * shift, size=rows),
        "length": np.round(rng.normal(10.0 + shift, 2.0, size=rows), 4),
        "weight": np.round(rng.gamma(2.0, 1.5 + shift, size=rows), 4),
    })


@pytest.fixture
def make_frame():
    """make_frame(rows, seed, shift=0.0, category_shares=(...)) -> DataFrame (seeded, so reproducible)."""
    return _make_frame


@pytest.fixture
def write_csv(tmp_path: Path):
    """write_csv(relative name, text or DataFrame, header=True) -> path of the written file."""

    def write(name: str, content, *, header: bool = True) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, pd.DataFrame):
            content.to_csv(path, index=False, header=header)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


# Set by test_engine_on_image_runtime.py, which runs this corpus in the image's runtime (no pydantic there).
SHIPPED_CORE_ENV = "BATCHOPS_TEST_SHIPPED_CORE"


@pytest.fixture
def shipped_core_modules() -> list[tuple[str, Path]]:
    """The core modules the pipeline ships as the `core` input: (name under the input, source file)."""
    listed = os.environ.get(SHIPPED_CORE_ENV)
    if listed:
        return [(name, Path(path)) for name, path in json.loads(listed)]
    from pipelines.common.code import core_modules

    return [(module.name, module.path) for module in core_modules()]
