"""The aggregator on synthetic run directories: IQM across runs, CIs, missing cells, gaze value, grouping of unlike
runs, each run counted once, the CLI."""

import json

import pytest

from bikkle_rl.checkpoint import save_checkpoint
from bikkle_rl.evaluation.aggregate import (
    aggregate,
    aggregate_groups,
    describe_run,
    find_eval_files,
    group_runs,
    load_eval,
    write_aggregate,
)
from bikkle_rl.evaluation.report import write_report
from bikkle_rl.recipes.aggregate import main as aggregate_main


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
    groups = group_runs(map(describe_run, files))
    paths = write_aggregate(groups, aggregate_groups(groups), tmp_path / "out")
    table = paths["table"].read_text()
    assert "| correlated | 13.00 [" in table and "gain" in table
    assert [plot.name for plot in paths["plots"]] == ["aggregate.png"] and paths["plots"][0].stat().st_size > 0
    written = json.loads(paths["json"].read_text())["groups"]
    assert [source["eval_file"] for source in written[0]["sources"]] == [str(path) for path in files]


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


def config(seed=0, encoder="mlp", algo="ppo", total_frames=3_000_000, gaze="correlated", lr=3e-4, init_from=None):
    """The parts of a training run's config that the aggregator reads, plus run-specific ones it must ignore."""
    return {"seed": seed, "device": "cpu", "time_limit_minutes": 20.0 + seed, "logger": {"log_dir": f"outputs/{seed}"},
            "init_from": init_from,
            "model": {"encoder": encoder}, "algo": {"name": algo, "optim": {"lr": lr}},
            "gaze": {"source": gaze, "p_valid": 0.25}, "total_frames": total_frames,
            "evaluation": {"protocol": "seed", "episodes": 100 + seed}}


def training_run(root, name, agent_mean, run_config, protocol=None):
    """A run directory as ``bikkle-train`` leaves it: ``final.pt`` (with the config) and ``report/eval.json``."""
    path = write_run(root, name, agent_mean)
    if protocol is not None:
        data = json.loads(path.read_text())
        path.write_text(json.dumps({**data, "protocol": protocol}))
    save_checkpoint(root / name / "final.pt", {"config": run_config, "frames": run_config["total_frames"]})
    return root / name


def evaluation(root, name, agent_mean, checkpoint, protocol="seed", pooled=0):
    """An ``eval.json`` as ``bikkle-eval`` writes it, naming the checkpoint it evaluated (``pooled``: with that many
    checkpoints' episodes, ``pool_earlier`` + 1)."""
    path = write_run(root, name, agent_mean)
    data = json.loads(path.read_text())
    parts = [{"checkpoint": str(checkpoint), "layout_seed": 1000 * index, "results": data["results"]}
             for index in range(pooled)]
    path.write_text(json.dumps({**data, "checkpoint": str(checkpoint), "protocol": protocol, "seed": 0,
                                "deterministic": True, "pooled": parts}))
    return path


@pytest.fixture
def unlike(tmp_path):
    """Three comparable seeds, and runs that differ from them in model, algorithm, budget, gaze, learning rate or
    evaluation protocol, or pooled over three checkpoints, each of which must stay out of their IQM."""
    root = tmp_path / "outputs"
    for seed, mean in enumerate([10.0, 12.0, 14.0]):
        training_run(root, f"mlp_{seed}", mean, config(seed))
    training_run(root, "transformer", 100.0, config(encoder="transformer"))
    training_run(root, "sac", 100.0, config(algo="sac"))
    training_run(root, "short", 100.0, config(total_frames=1_000_000))
    training_run(root, "uniform_gaze", 100.0, config(gaze="uniform"))
    training_run(root, "fast", 100.0, config(lr=1e-3))
    evaluation(root, "mlp_0_gaze_value", 100.0, root / "mlp_0" / "final.pt", protocol="gaze-value")
    evaluation(root, "mlp_1_pooled", 100.0, root / "mlp_1" / "final.pt", pooled=3)
    return root


def test_unlike_runs_are_aggregated_apart(unlike):
    groups = group_runs(map(describe_run, find_eval_files([unlike])))
    assert len(groups) == 8
    by_size = sorted(groups, key=lambda group: len(group.runs))
    pooled = by_size[-1]
    assert [run.run_dir.name for run in pooled.runs] == ["mlp_0", "mlp_1", "mlp_2"]
    assert [run.seed for run in pooled.runs] == [0, 1, 2]
    assert all(len(group.runs) == 1 for group in by_size[:-1])
    results = {len(group.runs): result for group, result in zip(groups, aggregate_groups(groups))}
    assert results[3]["results"]["correlated"]["agent"]["iqm"] == pytest.approx(12.0)
    assert results[3]["settings"]["model.encoder"] == "mlp" and results[3]["settings"]["protocol"] == "seed"
    assert {group.settings["protocol"] for group in groups} == {'"seed"', '"gaze-value"'}
    assert {group.settings["pooled_checkpoints"] for group in groups} == {"1", "3"}


def test_a_run_is_counted_once(tmp_path):
    """Its report, bikkle-eval of its final.pt, of a checkpoint, and a link to its directory: one run."""
    root = tmp_path / "outputs"
    run = training_run(root, "mlp_0", 10.0, config(0), protocol="seed")
    (run / "checkpoints").mkdir()
    save_checkpoint(run / "checkpoints" / "checkpoint_000000001000.pt", {"config": config(0), "frames": 1000})
    evaluation(root, "eval_checkpoint", 100.0, run / "checkpoints" / "checkpoint_000000001000.pt")
    evaluation(root, "eval_final", 10.0, run / "final.pt")
    training_run(root, "mlp_1", 12.0, config(1))
    (tmp_path / "latest").symlink_to(run, target_is_directory=True)
    files = find_eval_files([root, tmp_path / "latest", run / "report" / "eval.json"])
    assert len(files) == 4  # the linked and the named file are the report already found
    [group] = group_runs(map(describe_run, files))
    assert [(run.run_dir.name, run.agent) for run in group.runs] == [("mlp_0", "final.pt"), ("mlp_1", "final.pt")]
    assert group.runs[0].eval_file == run.resolve() / "report" / "eval.json"  # its own report first
    assert sorted(r.agent for r in group.duplicates) == ["checkpoint_000000001000.pt", "final.pt"]
    assert aggregate_groups([group])[0]["results"]["correlated"]["agent"]["iqm"] == pytest.approx(11.0)


def test_command_line_states_each_group_its_runs_seeds_and_settings(unlike, tmp_path, capsys):
    aggregate_main([str(unlike), "--out", str(tmp_path / "agg")])
    out = capsys.readouterr().out
    assert "8 groups" in out and "| correlated | 12.00 [" in out
    for name in ("mlp_0", "mlp_1", "mlp_2", "transformer", "sac", "short", "uniform_gaze", "fast"):
        assert str(unlike.resolve() / name) in out
    assert "seed 2" in out
    for setting in ("protocol=gaze-value", "model.encoder=transformer", "algo.name=sac", "total_frames=1000000",
                    "gaze.source=uniform", "algo.optim.lr=0.001", "pooled_checkpoints=3"):
        assert setting in out, setting
    assert "lr=0.001" not in out.split("other settings that vary between groups:")[0]  # not a headline setting
    assert sorted(p.name for p in (tmp_path / "agg").glob("aggregate_*.png")) == [f"aggregate_{i}.png"
                                                                                 for i in range(1, 9)]
    assert len(json.loads((tmp_path / "agg" / "aggregate.json").read_text())["groups"]) == 8


def test_strict_refuses_to_pool_unlike_runs(unlike, tmp_path, capsys):
    with pytest.raises(SystemExit, match="(?s)refusing.*groups of unlike runs.*model.encoder"):
        aggregate_main([str(unlike), "--strict", "--out", str(tmp_path / "agg")])
    assert not (tmp_path / "agg").exists()
    comparable = [str(unlike / f"mlp_{seed}") for seed in range(3)]
    aggregate_main([*comparable, "--strict", "--out", str(tmp_path / "agg")])
    assert "| correlated | 12.00 [" in capsys.readouterr().out


def test_strict_refuses_runs_without_a_config(sweep, tmp_path):
    with pytest.raises(SystemExit, match="without a readable run config"):
        aggregate_main([str(sweep), "--strict", "--out", str(tmp_path / "agg")])


def test_a_report_that_states_its_config_is_grouped_without_its_checkpoint(tmp_path):
    for seed, encoder in ((0, "mlp"), (1, "mlp"), (2, "transformer")):
        write_report({"correlated": {"agent": cell(10.0 + seed)}}, tmp_path / str(seed) / "report", "title",
                     protocol="seed", config=config(seed, encoder=encoder))
    groups = group_runs(map(describe_run, find_eval_files([tmp_path])))
    assert [[run.seed for run in group.runs] for group in groups] == [[0, 1], [2]]
    assert all(run.config_source == run.eval_file for group in groups for run in group.runs)
