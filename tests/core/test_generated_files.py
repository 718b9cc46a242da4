"""Every generated file matches the single definition it is rendered from (regenerate: batchops dev regenerate)."""

from __future__ import annotations

from batchops import generated


def test_generated_files_are_up_to_date():
    assert generated.stale() == [], "regenerate with `batchops dev regenerate` (or batchops.generated.write_all())"


def test_a_changed_generated_file_is_reported(tmp_path):
    for relative, render in generated.GENERATED.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render() + "# edited by hand\n", encoding="utf-8")
    assert sorted(generated.stale(tmp_path)) == sorted(generated.GENERATED)
    generated.write_all(tmp_path)
    assert generated.stale(tmp_path) == []
