"""Atomic writes: the new file whole, or the old one untouched and no temporary file left."""

import json

import pytest

from bikkle_rl.atomic_write import write_json


def test_write_json_replaces_the_file_whole(tmp_path):
    path = tmp_path / "results" / "eval.json"
    write_json(path, {"mean": 1.0})
    write_json(path, {"mean": 2.0, "episodes": 3})
    assert json.loads(path.read_text()) == {"mean": 2.0, "episodes": 3}
    assert [p.name for p in path.parent.iterdir()] == ["eval.json"]


def test_a_failing_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "eval.json"
    write_json(path, {"mean": 1.0})
    with pytest.raises(TypeError, match="not JSON serializable"):
        write_json(path, {"mean": object()})
    assert json.loads(path.read_text()) == {"mean": 1.0}
    assert [p.name for p in tmp_path.iterdir()] == ["eval.json"]
