"""The aggregator on synthetic eval.json files: IQM across runs, CIs, missing cells, gaze value, the CLI."""

import json

import pytest

from bikkle_rl.evaluation.aggregate import aggregate, find_eval_files, load_eval, write_aggregate
from recipes.aggregate import main as aggregate_main


def cell(mean):
    return {"mean": mean, "std": 1.0, "ci_low": mean - 0.1, "ci_high": mean + 0.1, "episodes": 100}


def write_run(root, name, agent_mean, greedy_mean=20.0, gain=None):
    results = {"correlated": {"agent": cell(agent_mean), "greedy": cell(greedy_mean)},
               "none": {"agent": cell(agent_mean - 5)}}
    data = {"title": name, "results": results}
    if gain is not None:
        data["gaze_value"] = {key: {"value": value, "ci_low": value - 1, "ci_high": value + 1}
                              for key, value in (("gain", gain), ("gain_max", 2 * gain), ("fraction", 0.5))}
    path = root / name / "report" / "eval.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def sweep(tmp_path):
    """Four seeds of a multirun; the last one an outlier, the first without a greedy column."""
    root = tmp_path / "multirun"
    paths = [write_run(root, str(seed), mean, gain=gain)
             for seed, (mean, gain) in enumerate([(10.0, 2.0), (12.0, 3.0), (14.0, 4.0), (100.0, None)])]
    data = json.loads(paths[0].read_text())
    del data["results"]["correlated"]["greedy"]
    paths[0].write_text(json.dumps(data))
    return root


def test_interquartile_mean_over_runs_drops_the_outlier(sweep):
    files = find_eval_files([sweep])
    assert len(files) == 4
    result = aggregate([load_eval(path) for path in files])
    agent = result["results"]["correlated"]["agent"]
    assert agent["runs"] == 4
    assert agent["iqm"] == pytest.approx(13.0)  # the middle two of 10, 12, 14, 100
    assert agent["mean"] == pytest.approx(34.0)
    assert 10.0 <= agent["ci_low"] <= agent["iqm"] <= agent["ci_high"] <= 100.0
    assert result["results"]["none"]["agent"]["iqm"] == pytest.approx(8.0)
    assert result["results"]["correlated"]["greedy"]["runs"] == 3
    assert result["runs"] == 4


def test_gaze_value_is_aggregated_over_the_runs_that_have_it(sweep):
    result = aggregate([load_eval(path) for path in find_eval_files([sweep])])
    gain = result["gaze_value"]["gain"]
    assert gain["runs"] == 3 and gain["iqm"] == pytest.approx(3.0)
    assert result["gaze_value"]["gain_max"]["iqm"] == pytest.approx(6.0)


def test_identical_runs_have_a_point_ci(tmp_path):
    evals = [load_eval(write_run(tmp_path, str(seed), 7.0)) for seed in range(3)]
    agent = aggregate(evals)["results"]["correlated"]["agent"]
    assert agent["ci_low"] == pytest.approx(7.0) and agent["ci_high"] == pytest.approx(7.0)


def test_written_table_plot_and_json(sweep, tmp_path):
    files = find_eval_files([sweep])
    paths = write_aggregate(aggregate([load_eval(path) for path in files]), tmp_path / "out", files)
    table = paths["table"].read_text()
    assert "| correlated | 13.00 [" in table and "gain" in table
    assert paths["plot"].stat().st_size > 0
    assert json.loads(paths["json"].read_text())["sources"] == [str(path) for path in files]


def test_bad_inputs_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        find_eval_files([tmp_path / "nowhere"])
    not_eval = tmp_path / "eval.json"
    not_eval.write_text(json.dumps({"frames": 3}))
    with pytest.raises(ValueError, match="not an evaluation file"):
        load_eval(not_eval)
    with pytest.raises(ValueError, match="at least one"):
        aggregate([])


def test_command_line_entry(sweep, tmp_path, capsys):
    aggregate_main([str(sweep), "--out", str(tmp_path / "agg")])
    assert "13.00" in capsys.readouterr().out
    assert (tmp_path / "agg" / "aggregate.json").is_file()
