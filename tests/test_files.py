"""Atomic writes: a file under its final name is complete, or the old one is left untouched."""
import pandas as pd
import pytest

from fssim.files import atomic_path, temporary_files, write_json, write_parquet, write_text


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = write_text(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old" and temporary_files(tmp_path) == []


def test_writers_replace_the_target_whole(tmp_path):
    write_json(tmp_path / "m.json", {"a": 1})
    write_json(tmp_path / "m.json", {"b": 2})
    assert (tmp_path / "m.json").read_text().strip().startswith("{") and '"b": 2' in (tmp_path / "m.json").read_text()
    write_parquet(tmp_path / "sub" / "t.parquet", pd.DataFrame({"x": [1, 2]}))
    assert pd.read_parquet(tmp_path / "sub" / "t.parquet")["x"].tolist() == [1, 2]
    assert temporary_files(tmp_path) == []
