"""End-to-end PPO (and SAC) training throughput (collection + update), with the pipeline's overhead made visible.

For each algorithm (``--algos``, default PPO) and encoder it times, with the recipe's default config
(``bikkle_rl/conf/train.yaml``; SAC: ``algo=sac`` without its random warm-up, so every timed batch trains):
- the TorchRL pipeline: Collector over the transformed batched env, then the PPO update (default epochs);
- in the same run, the env's bare stepping rate (pure dynamics functions, no TorchRL) at the same batch, and
  (PPO) a plain-tensor PPO update of the same networks on the same batch shape (no TensorDict, no torchrl loss),
so the ratios show what TorchRL costs. Each ``--modes`` entry is one row per encoder, measured in the same run:
``eager`` and ``compile`` (``torch.compile`` of the policy and the update step), and on CUDA ``cudagraphs``
(captured, compiled or not) and ``compile+cudagraphs``; ``fused``, ``compile+fused`` (and on CUDA
``compile+fused+cudagraphs``) collect with the :class:`~bikkle_rl.fused_collector.FusedCollector`. A row the
recipe refuses at start-up (on CUDA the MLP's Gaussian policy captured without compile) prints why and is
skipped. ``--num-envs`` sweeps arena counts (a row each) and ``--plot`` draws end-to-end steps/s against them.

    python benchmarks/ppo_throughput.py                          # mlp and transformer: eager, compiled, fused, CPU
    python benchmarks/ppo_throughput.py --encoders transformer --iterations 5 --device cuda \
        --modes eager compile cudagraphs compile+cudagraphs --overrides num_envs=4096 algo.minibatches=16
    python benchmarks/ppo_throughput.py --overrides num_envs=1024 algo.frames_per_env=16
    python benchmarks/ppo_throughput.py --algos sac --encoders mlp                # SAC: eager against compiled
    python benchmarks/ppo_throughput.py --device cuda --modes compile compile+fused compile+fused+cudagraphs \
        --num-envs 1024 4096 16384 65536 --overrides algo.minibatches=16 --plot ppo_scaling.png   # GPU scaling
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import torch
from omegaconf import open_dict

from bikkle_rl.conf import compose_config
from bikkle_rl.envs import BikkleConfig, dynamics
from bikkle_rl.envs.random import ArenaRNG
from bikkle_rl.experiment import make_algorithm, make_collector, make_train_env, resolve_device

MODES = {
    "eager": ["compile=false", "cudagraphs=false"],
    "compile": ["compile=true", "cudagraphs=false"],
    "cudagraphs": ["compile=false", "cudagraphs=true"],
    "compile+cudagraphs": ["compile=true", "cudagraphs=true"],
    "fused": ["compile=false", "cudagraphs=false", "collector=fused"],
    "compile+fused": ["compile=true", "cudagraphs=false", "collector=fused"],
    "compile+fused+cudagraphs": ["compile=true", "cudagraphs=true", "collector=fused"],
}


ALGOS = {
    "ppo": ["algo=ppo"],
    "sac": ["algo=sac", "algo.init_random_frames=0"],
}
"""Each algorithm's overrides: SAC's random warm-up (no gradient steps) would leave nothing to time."""

TIMED_FRAMES = 4096
"""The fewest frames an iteration times: a SAC batch (64 arenas x 4 steps) is timed over 16 batches."""


def train_config(encoder: str, overrides: list[str]):
    cfg = compose_config("train", [f"model={encoder}", *overrides])
    with open_dict(cfg):
        cfg.logger.log_dir = "."
    return cfg


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def build_pipeline(cfg, device: torch.device) -> tuple[object, object]:
    """The recipe's algorithm and collector (a setup the recipe refuses raises ``ValueError`` here)."""
    env = make_train_env(cfg, device, seed=0)
    algo = make_algorithm(cfg, env, device=device)
    return algo, make_collector(cfg, env, algo, total_frames=-1, device=device)


def pipeline_rates(algo, collector, device: torch.device, iterations: int) -> tuple[dict[str, float], object]:
    """Collect / update / end-to-end steps/s of the recipe's pipeline, and the last batch.

    An iteration is one batch, or as many as make :data:`TIMED_FRAMES` (SAC's small batches).
    """
    batches = iter(collector)
    first = next(batches)
    iterations *= -(-TIMED_FRAMES // first.numel())
    algo.update(first)
    for _ in range(max(1, iterations // 4)):  # warm-up and compilation (the fused collector compiles at its 2nd batch)
        algo.update(next(batches))
    collect_s = update_s = 0.0
    frames = 0
    for _ in range(iterations):
        start = time.perf_counter()
        batch = next(batches)
        sync(device)
        collected = time.perf_counter()
        algo.update(batch)
        sync(device)
        collect_s += collected - start
        update_s += time.perf_counter() - collected
        frames += batch.numel()
    collector.shutdown()
    rates = {"collect": frames / collect_s, "update": frames / update_s, "end_to_end": frames / (collect_s + update_s)}
    return rates, batch


def bare_env_rate(arena: BikkleConfig, num_envs: int, steps: int, device: torch.device) -> float:
    """Steps/s of the pure dynamics (step, observe, partial reset) with random actions, no TorchRL."""
    generator = ArenaRNG(0, device, num_arenas=num_envs)
    state = dynamics.new_arena(arena, num_envs, generator, device)
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        action = torch.rand(num_envs, 2, device=device) * 2 - 1
        state, _, events = dynamics.step_arena(arena, state, action, generator)
        dynamics.observe(arena, state)
        done = dynamics.is_terminated(arena, events) | dynamics.is_truncated(arena, state)
        state = dynamics.reset_arenas(arena, state, done, generator)
    sync(device)
    return steps * num_envs / (time.perf_counter() - start)


def plain_update_rate(algo, batch, epochs: int, minibatches: int, device: torch.device) -> float:
    """Steps/s of a hand-written clipped-PPO update of the same networks on the same batch shape."""
    policy_net, value_net = algo.actor.module[0].module, algo.critic.module
    in_keys = algo.actor.module[0].in_keys
    flat = batch.reshape(-1)
    inputs = [flat[key] for key in in_keys]
    action, old_log_prob = flat["action"], flat["action_log_prob"]
    advantage, target = flat["advantage"].squeeze(-1), flat["value_target"]
    params = [*policy_net.parameters(), *value_net.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-5)
    size = flat.numel() // minibatches
    sync(device)
    start = time.perf_counter()
    for _ in range(epochs):
        for index in torch.randperm(flat.numel(), device=device)[: size * minibatches].split(size):
            loc, scale = policy_net(*(x[index] for x in inputs))
            log_prob = torch.distributions.Normal(loc, scale).log_prob(action[index].clamp(-0.999, 0.999)).sum(-1)
            ratio = (log_prob - old_log_prob[index].reshape(-1)).exp()
            adv = advantage[index]
            policy_loss = -torch.min(ratio * adv, ratio.clamp(0.8, 1.2) * adv).mean()
            value_loss = (value_net(*(x[index] for x in inputs)) - target[index]).pow(2).mean()
            optimizer.zero_grad()
            (policy_loss + 0.5 * value_loss).backward()
            torch.nn.utils.clip_grad_norm_(params, 0.5)
            optimizer.step()
    sync(device)
    return flat.numel() / (time.perf_counter() - start)


def measure_row(algo_name: str, encoder: str, overrides: list[str], device_name: str, iterations: int
                ) -> tuple[int, dict[str, float], float, float] | str:
    """One row: arenas, the pipeline's rates, the bare env's and (PPO) the plain update's; or why the recipe
    refuses the setup. Each row runs in a fresh process: in one process, a row timed after others ran up to a
    third slower (compiled code and thread pools of earlier rows stay behind)."""
    device = resolve_device(device_name)
    cfg = train_config(encoder, overrides)
    if device.type == "cpu":
        torch.set_num_threads(cfg.cpu_threads)
    try:
        algo, collector = build_pipeline(cfg, device)
    except ValueError as refused:
        return str(refused)
    rates, batch = pipeline_rates(algo, collector, device, iterations)
    bare = bare_env_rate(BikkleConfig(**cfg.env), cfg.num_envs, 50, device)
    plain = (plain_update_rate(algo, batch, cfg.algo.epochs, cfg.algo.minibatches, device)
             if algo_name == "ppo" else float("nan"))
    return cfg.num_envs, rates, bare, plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=["ppo"], choices=list(ALGOS))
    parser.add_argument("--encoders", nargs="+", default=["mlp", "transformer"])
    parser.add_argument("--iterations", type=int, default=4, help="timed collect+update iterations")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--modes", nargs="+", default=["eager", "compile", "compile+fused"], choices=list(MODES))
    parser.add_argument("--overrides", nargs="*", default=[], help="Hydra overrides of the train config")
    parser.add_argument("--num-envs", type=int, nargs="+", default=None,
                        help="arena counts to sweep (default: the config's); a row per count")
    parser.add_argument("--plot", default=None, help="with --num-envs: a PNG of end-to-end steps/s against arenas")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(f"device={device}; steps/s (environment steps), {args.iterations} timed iterations after a warm-up")
    header = f"{'algo':<6}{'encoder':<12}{'mode':<19}{'arenas':>8}{'collect':>10}{'update':>10}{'end-to-end':>12}" \
             f"{'bare env':>11}{'plain upd':>11}{'collect/bare':>14}{'update/plain':>14}"
    print(header)
    curves: dict[str, list[tuple[int, float]]] = {}
    for algo_name, encoder, mode in itertools.product(args.algos, args.encoders, args.modes):
        for num_envs in args.num_envs or [None]:
            arenas = [f"num_envs={num_envs}"] if num_envs else []
            overrides = [f"device={args.device}", *ALGOS[algo_name], *MODES[mode], *args.overrides, *arenas]
            row = f"{algo_name:<6}{encoder:<12}{mode:<19}"
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as fresh_process:
                measured = fresh_process.submit(measure_row, algo_name, encoder, overrides, args.device,
                                                args.iterations).result()
            if isinstance(measured, str):  # a setup the recipe refuses at start-up: say why, time the others
                print(f"{row}skipped: {measured}")
                continue
            num_envs, rates, bare, plain = measured
            print(f"{row}{num_envs:>8}{rates['collect']:>10,.0f}{rates['update']:>10,.0f}"
                  f"{rates['end_to_end']:>12,.0f}{bare:>11,.0f}{plain:>11,.0f}"
                  f"{rates['collect'] / bare:>14.2f}{rates['update'] / plain:>14.2f}")
            curves.setdefault(f"{algo_name}, {encoder}, {mode}", []).append((num_envs, rates["end_to_end"]))
    if args.plot:
        plot_scaling(curves, device, args.plot)


def plot_scaling(curves: dict[str, list[tuple[int, float]]], device: torch.device, path: str) -> None:
    """End-to-end steps/s against the arena count, one line per encoder and mode (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for label, points in curves.items():
        ax.plot(*zip(*points), marker="o", label=label)
    ax.set(xscale="log", yscale="log", xlabel="arenas", ylabel="end-to-end env steps/s",
           title=f"training throughput on {device}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
