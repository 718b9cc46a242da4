"""Demo pieces that need no emulator: cleaning earlier demo state, refusing a foreign schema."""

from __future__ import annotations

import pytest

from batchops.demo import DEMO_STATE, clear_previous_demo, run_demo
from batchops_core.settings import load_settings


def test_clear_previous_demo_removes_only_demo_state(tmp_path):
    for name in DEMO_STATE:
        if name.endswith((".html", ".jsonl")):
            (tmp_path / name).write_text("old")
        else:
            (tmp_path / name / "nested").mkdir(parents=True)
    (tmp_path / "terraform" / "local" / "data").mkdir(parents=True)
    (tmp_path / "emulator.log").write_text("keep")
    clear_previous_demo(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emulator.log", "terraform"]
    assert (tmp_path / "terraform" / "local" / "data").is_dir()  # providers stay installed: faster re-runs


def test_demo_refuses_a_schema_it_cannot_generate(tmp_path):
    settings = load_settings("local")
    columns = [c for c in settings.dataset.columns if c.name != "sex"]
    other = settings.model_copy(update={"dataset": settings.dataset.model_copy(update={"columns": columns})})
    with pytest.raises(ValueError, match="this env file has another schema"):
        run_demo(tmp_path, settings=other)
    assert not (tmp_path / "outbox").exists()

