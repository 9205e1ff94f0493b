"""The evaluation report: what eval.md says its numbers are (statistic, CI, episodes, scenarios, protocol), what
eval.json records, and the video's legend."""

import json
import warnings

import imageio.v2 as imageio
import torch

from bikkle_rl.envs.video import legend_strip
from bikkle_rl.evaluation.cells import reference_factory, summarize_returns
from bikkle_rl.evaluation.protocols import evaluation_stack, replay_scenario
from bikkle_rl.evaluation.report import plot_bars, record_video, write_report
from bikkle_rl.evaluation.stats import NUM_RESAMPLES

EPISODES = 20


def results_of(*scenarios):
    """Summaries of synthetic returns, EPISODES per cell, for an agent and greedy on each scenario."""
    returns = {scenario: {policy: torch.arange(EPISODES, dtype=torch.float64) + offset
                          for policy, offset in (("agent", 10.0), ("greedy", 12.0))} for scenario in scenarios}
    return summarize_returns(returns, seed=0)


def report_text(tmp_path, scenarios=("correlated", "uniform", "none"), **kwargs):
    paths = write_report(results_of(*scenarios), tmp_path, "agent, protocol", **kwargs)
    return paths["table"].read_text()


def test_eval_md_states_the_statistic_ci_and_episodes(tmp_path):
    text = report_text(tmp_path, protocol="gaze-value")
    assert "| correlated | 19.50 [" in text  # the table itself is unchanged
    assert "mean undiscounted return" in text and "[95 % CI]" in text
    assert "percentile bootstrap of the mean" in text
    assert f"resampled with replacement {NUM_RESAMPLES} times" in text
    assert "2.5 % to 97.5 % quantiles of the resampled means" in text
    assert f"Episodes per cell: {EPISODES}." in text


def test_eval_md_lists_unequal_episode_counts_per_cell(tmp_path):
    results = results_of("correlated")
    results["correlated"]["greedy"]["episodes"] = 7
    text = write_report(results, tmp_path, "title")["table"].read_text()
    assert f"correlated / agent: {EPISODES}, correlated / greedy: 7" in text


def test_eval_md_says_what_each_scenario_means(tmp_path):
    replay = replay_scenario(["sessions/p01.npz"])
    text = report_text(tmp_path, ("correlated", "uniform", "none", "oracle", "realistic", replay, "fitted:p01.yaml"),
                       protocol="gaze-value")
    lines = {line.split("`")[1]: line for line in text.splitlines() if line.startswith("- `")}
    assert "points at the high-value pellet" in lines["correlated"] and "valid on 25 % of steps" in lines["correlated"]
    assert "no information" in lines["uniform"]
    assert "no gaze" in lines["none"]
    assert "exactly the high-value pellet" in lines["oracle"]
    assert "simulated webcam tracker" in lines["realistic"]
    assert "recorded looks" in lines[replay] and "closed loop" in lines[replay]
    assert "fitted to a person's recordings" in lines["fitted:p01.yaml"]


def test_single_pink_protocol_says_gaze_carries_no_information(tmp_path):
    seed_text = report_text(tmp_path / "seed", protocol="seed")
    assert "Protocol `seed`: 1 pink + 1 blue pellets" in seed_text
    assert "gaze carries no information here" in seed_text and "noise" in seed_text
    gaze_value_text = report_text(tmp_path / "gaze_value", protocol="gaze-value")
    assert "Protocol `gaze-value`: 3 pink + 3 blue pellets" in gaze_value_text
    assert "no information here" not in gaze_value_text
    unknown = report_text(tmp_path / "unknown")
    assert "Protocol: not recorded. If it has a single pink pellet" in unknown


def test_protocol_and_config_are_recorded_in_eval_json(tmp_path):
    text = report_text(tmp_path / "extra", extra={"protocol": "seed", "seed": 3})  # bikkle-eval's way
    assert "gaze carries no information here" in text
    assert json.loads((tmp_path / "extra" / "eval.json").read_text())["protocol"] == "seed"
    report_text(tmp_path / "keywords", protocol="gaze-value", config={"model": {"encoder": "mlp"}})
    data = json.loads((tmp_path / "keywords" / "eval.json").read_text())
    assert data["protocol"] == "gaze-value" and data["config"] == {"model": {"encoder": "mlp"}}
    assert "config" not in json.loads((tmp_path / "extra" / "eval.json").read_text())


def test_video_carries_the_legend_below_the_arenas(tmp_path):
    train_stack = {"env": {"num_pink": 1, "num_blue": 1}, "stack": "mlp", "gaze": {"source": "uniform"}}
    stack = evaluation_stack(train_stack, "seed", "correlated", num_envs=2)
    size, arenas = 32, 4
    path = record_video(reference_factory("greedy"), stack, tmp_path / "agent.mp4", seed=0, arenas=arenas, size=size)
    frames = imageio.mimread(path)
    legend = legend_strip(size * arenas)
    assert frames[0].shape == (size + legend.shape[0], size * arenas, 3)
    region = torch.from_numpy(frames[0][size:]).int()
    assert (region - legend.int()).abs().float().mean() < 8  # lossy MP4: close to the legend drawn


def test_bar_charts_fit_long_titles_and_recording_paths_without_a_layout_warning(tmp_path):
    """Matplotlib warns where a layout cannot fit the axes' decorations (and cuts them): a long title wraps, and a
    recording's scenario is labelled by its file names, not its whole path."""
    deep = "/a/very/deep/directory/of/recorded/sessions/of/participant/p01"
    scenario_sets = ([f"replay:{deep}/session_with_a_long_name.npz"],
                     [f"replay-pellet:{deep}/session_0.npz+{deep}/session_1.npz", "correlated"])
    for index, scenarios in enumerate(scenario_sets):
        returns = {scenario: {policy: torch.tensor([1.0, 2.0]) for policy in ("before", "after", "greedy")}
                   for scenario in scenarios}
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            path = plot_bars(summarize_returns(returns, seed=0), tmp_path / f"bars_{index}.png",
                             "gaze-only fine-tune on replay gaze, protocol gaze-value")
        assert imageio.imread(path).shape[1] >= 4.5 * 120  # at least 4.5 inches at 120 dpi
