"""Live human-in-the-loop fine-tuning: a person watches the agent play, and their gaze trains its gaze pathway.

A session plays one arena in the play window, at the window's step rate, in three phases of episodes:

1. ``before``: ``eval_episodes`` with the agent's mean action, the pretrained weights (this person's baseline);
2. ``train``: ``train_episodes`` with sampled actions; each episode, one batch, trains the agent by PPO, only
   its gaze parameters (the gaze-only fine-tune of ``bikkle-finetune``, with its settings: a gaze adapter for
   transformers, learning-rate warmup, exploration floor...);
3. ``after``: ``eval_episodes`` with the mean action of the fine-tuned weights.

Updates run **between episodes, in a background thread**: the update of a training episode starts when it
ends and runs during the next episode's countdown, while the window keeps drawing at its frame rate; the next
episode's first step waits for it (the countdown is extended) if it is not done. Steps within an episode are
never delayed by an update, and no policy acts while PPO trains: the sampling mode of TensorDict modules is one
process-wide setting that an acting policy and the loss would otherwise both set and restore. Every batch is
on-policy. The summary reports how long updates took and how long episodes waited for one.

Crash safety: at the end of every episode and of every update the session writes ``live_finetune.pt``
(weights, optimizer, the episode reached, returns so far), and at the end of every episode ``recording.npz``
(every step so far), atomically into its directory; the same command with ``--resume`` continues from the next
episode. The end prints and plots the return under this person's gaze, before against after.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, open_dict
from tensordict import TensorDictBase
from torchrl.envs import TransformedEnv
from torchrl.envs.utils import ExplorationType, set_exploration_type

from bikkle_rl.agent_io import load_agent
from bikkle_rl.checkpoint import load_checkpoint, load_state, save_checkpoint
from bikkle_rl.conf import compose_config
from bikkle_rl.envs.stack import make_env
from bikkle_rl.evaluation.protocols import EVALUATION_ARENA, evaluation_stack
from bikkle_rl.evaluation.stats import summarize
from bikkle_rl.experiment import env_stack, init_weights_from, make_algorithm, reward_normalizer
from bikkle_rl.finetune import finetune_config
from bikkle_rl.gaze.source import GazeSource
from bikkle_rl.plain_config import plain_config
from bikkle_rl.recording import BASE_COLUMNS, Recording, RecordingWriter, load_recording, save_recording

PHASES = ("before", "train", "after")
CHECKPOINT_NAME, RECORDING_NAME = "live_finetune.pt", "recording.npz"


@dataclass
class LiveFinetuneConfig:
    """How many episodes each phase plays (a training episode is one PPO batch)."""

    eval_episodes: int = 2
    train_episodes: int = 10

    def __post_init__(self) -> None:
        for name in ("eval_episodes", "train_episodes"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be an int >= 1, got {getattr(self, name)!r}")

    @property
    def total_episodes(self) -> int:
        return 2 * self.eval_episodes + self.train_episodes

    def phase(self, episode: int) -> str:
        """The phase episode ``episode`` (0-based) belongs to."""
        if episode < self.eval_episodes:
            return "before"
        return "train" if episode < self.eval_episodes + self.train_episodes else "after"


def live_train_config(checkpoint: str | Path, session_dir: Path, overrides: list[str] = ()) -> DictConfig:
    """The fine-tune's training config (``bikkle-finetune``'s, with its ``overrides``) for one arena, a batch
    per episode of the evaluation protocol, eager (compiling would stall the first updates)."""
    cfg = compose_config("finetune_gaze", [f"checkpoint={checkpoint}", "gaze=none", f"out_dir={session_dir}",
                                           *overrides])
    _, pretrained = load_agent(checkpoint)
    train_cfg = finetune_config(cfg, pretrained, session_dir)
    with open_dict(train_cfg):
        train_cfg.num_envs = 1
        train_cfg.algo.frames_per_env = EVALUATION_ARENA["max_steps"]  # the live arena plays evaluation episodes
        train_cfg.compile = False
        train_cfg.cudagraphs = False
    return train_cfg


def make_live_env(train_cfg: DictConfig, checkpoint: str | Path, source: GazeSource, seed: int | None
                  ) -> TransformedEnv:
    """One arena of the evaluation protocol's (continuing, unshaped) with the run's transforms and ``source``.

    The reward normaliser keeps the pretrained run's statistics, frozen, so the critic's targets keep the scale
    it learned (the window and the recording show the raw reward, ``raw_reward``).
    """
    from bikkle_rl.human.play import use_gaze_source

    stack = env_stack(train_cfg)
    live = evaluation_stack(stack, train_cfg.evaluation.protocol, "none", num_envs=1)
    live["reward_norm"] = stack.get("reward_norm")
    env = make_env(live, seed=seed)
    normalizer = reward_normalizer(env)
    if normalizer is not None:
        saved = load_checkpoint(checkpoint, expected={"transforms": None})["transforms"]
        prefix = next((key.removesuffix("return_mean") for key in saved if key.endswith("return_mean")), "")
        statistics = {key.removeprefix(prefix): value for key, value in saved.items() if key.startswith(prefix)}
        load_state(normalizer, statistics, checkpoint, "transforms (reward normalisation)")
        normalizer.freeze()
    return use_gaze_source(env, source)


def completed_episodes(recording: Recording) -> RecordingWriter:
    """A writer holding the recording's finished episodes (a crash's unfinished one is dropped)."""
    ends = np.flatnonzero(recording["done"])
    keep = ends[-1] + 1 if len(ends) else 0
    writer = RecordingWriter(recording.metadata)
    writer.rows = [{name: recording[name][row] for name in BASE_COLUMNS} for row in range(keep)]
    return writer


@dataclass
class LiveProgress:
    """What a session has done, saved in its checkpoint: the next episode, each finished episode's return and
    phase, the updates done and how long each took (s)."""

    episode: int = 0
    returns: list[float] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)
    updates: int = 0
    update_seconds: list[float] = field(default_factory=list)


class LiveFinetune:
    """The learner a :class:`~bikkle_rl.human.play.PlaySession` consults each step (see the module docstring).

    Args:
        train_cfg: :func:`live_train_config`'s config.
        checkpoint: the pretrained agent (its weights start the fine-tune).
        env: :func:`make_live_env`'s env (the session plays it).
        config: the phases and batch size.
        session_dir: where the checkpoint and recording go.
        resume: continue the session saved in ``session_dir`` (a clear error when there is none).
    """

    def __init__(self, train_cfg: DictConfig, checkpoint: str | Path, env: TransformedEnv,
                 config: LiveFinetuneConfig, session_dir: str | Path, resume: bool = False):
        self.train_cfg, self.env, self.config = train_cfg, env, config
        self.session_dir = Path(session_dir)
        self.algo = make_algorithm(train_cfg, env, torch.device("cpu"))
        init_weights_from(checkpoint, self.algo)
        self.progress = LiveProgress()
        self.resumed_recording: RecordingWriter | None = None
        if resume:
            self._resume()
        self._batch: list[TensorDictBase] = []
        self._thread: threading.Thread | None = None
        self.waits: list[float] = []  # how long each episode's first step waited for an update (s)

    @property
    def checkpoint_path(self) -> Path:
        return self.session_dir / CHECKPOINT_NAME

    def _resume(self) -> None:
        path = self.checkpoint_path
        if not path.is_file():
            raise FileNotFoundError(f"--resume: no live fine-tune session to resume at {path}")
        payload = load_checkpoint(path, expected={"algo": None, "progress": None})
        self.algo.load_state_dict(payload["algo"])
        self.progress = LiveProgress(**payload["progress"])
        self.resumed_recording = completed_episodes(load_recording(self.session_dir / RECORDING_NAME))

    def act(self, td: TensorDictBase, episode: int) -> TensorDictBase:
        """The action for ``td``: sampled in training episodes, the mean action before and after."""
        exploration = ExplorationType.RANDOM if self.config.phase(episode) == "train" else ExplorationType.DETERMINISTIC
        with torch.no_grad(), set_exploration_type(exploration):
            return self.algo.actor(td)

    def observe(self, td: TensorDictBase, episode: int) -> None:
        """A step taken (``td`` holds ``next``): kept for the episode's batch in training episodes."""
        if self.config.phase(episode) == "train":
            self._batch.append(td.clone())

    @property
    def ready(self) -> bool:
        """No update is running: the session may take its next step."""
        return self._thread is None or not self._thread.is_alive()

    def _update(self, batch: TensorDictBase) -> None:
        start = time.perf_counter()
        self.algo.update(batch, progress=min(self.progress.updates / self.config.train_episodes, 1.0))
        self.progress.updates += 1
        self.progress.update_seconds.append(time.perf_counter() - start)
        self._save_checkpoint()  # a crash in the next episode keeps this update

    def _save_checkpoint(self) -> None:
        save_checkpoint(self.checkpoint_path, {"algo": self.algo.state_dict(), "progress": vars(self.progress).copy(),
                                               "config": plain_config(self.train_cfg)})

    def wait(self) -> None:
        """Waits for the running update, if any."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def end_episode(self, episode: int, episode_return: float, writer: RecordingWriter) -> None:
        """Keeps the episode's return and saves the session (checkpoint and recording, both atomic)."""
        progress = self.progress
        self.wait()
        progress.episode, progress.returns, progress.phases = (episode + 1, [*progress.returns, episode_return],
                                                               [*progress.phases, self.config.phase(episode)])
        self.session_dir.mkdir(parents=True, exist_ok=True)
        save_recording(writer.to_recording(), self.session_dir / RECORDING_NAME)
        self._save_checkpoint()
        if self._batch:  # a training episode: its update runs while the next episode counts down
            batch, self._batch = torch.stack(self._batch, 1), []
            self._thread = threading.Thread(target=self._update, args=(batch,), daemon=True)
            self._thread.start()

    def summary(self) -> dict[str, Any]:
        """Return before / after (mean, 95 % CI) under this person's gaze, update times and the step rate held."""
        returns = torch.tensor(self.progress.returns, dtype=torch.float64)
        phases = np.array(self.progress.phases)
        result: dict[str, Any] = {
            phase: summarize(returns[torch.as_tensor(phases == phase)], generator=torch.Generator().manual_seed(0))
            for phase in ("before", "after") if (phases == phase).any()
        }
        seconds = torch.tensor(self.progress.update_seconds, dtype=torch.float64)
        if len(seconds):
            result["update_s"] = {"mean": seconds.mean().item(), "max": seconds.max().item(), "count": len(seconds)}
        waits = torch.tensor(self.waits, dtype=torch.float64)
        result["waited_for_update_s"] = {"total": waits.sum().item(), "episodes": int((waits > 0).sum())}
        return result


def plot_live_returns(progress: LiveProgress, path: Path, title: str) -> Path:
    """Each episode's return, coloured by phase, with the before / after means as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"before": "tab:grey", "train": "tab:blue", "after": "tab:green"}
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for phase in PHASES:
        episodes = [i for i, p in enumerate(progress.phases) if p == phase]
        values = [progress.returns[i] for i in episodes]
        if episodes:
            ax.plot(episodes, values, "o", color=colours[phase], label=phase)
            if phase != "train":
                ax.hlines(float(np.mean(values)), min(episodes) - 0.4, max(episodes) + 0.4, color=colours[phase])
    ax.set_xlabel("episode")
    ax.set_ylabel("return (under this person's gaze)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def describe(summary: dict[str, Any]) -> str:
    """The summary as lines for the console."""
    lines = []
    for phase in ("before", "after"):
        if phase in summary:
            row = summary[phase]
            lines.append(f"{phase}: return {row['mean']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}] "
                         f"over {row['episodes']} episodes")
    if "update_s" in summary:
        update = summary["update_s"]
        lines.append(f"updates: {update['count']}, {update['mean']:.2f} s each on average (max {update['max']:.2f} s),"
                     " in a background thread between episodes")
    waited = summary["waited_for_update_s"]
    lines.append(f"episodes that waited for an update past their countdown: {waited['episodes']} "
                 f"({waited['total']:.2f} s in all)")
    return "\n".join(lines)

