"""Train a Bikkle agent (PPO or SAC) on the batched arena, then evaluate it and write a report.

    bikkle-train                       # defaults: token transformer, PPO, gaze mixture, CPU, a few minutes
    bikkle-train model=mlp algo=sac    # any config group or field can be overridden (bikkle_rl/conf/)

The run directory gets the effective config (``config.yaml``), the checkpoints and logs
(:func:`~bikkle_rl.training.train`) and the report (:func:`~bikkle_rl.training.evaluate_run`). A run stopped by
SIGTERM or SIGINT exits with 128 + the signal's number after writing a checkpoint, without a report.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from bikkle_rl.atomic_write import write_atomically
from bikkle_rl.conf import CONFIG_MODULE
from bikkle_rl.resume import command_line_config
from bikkle_rl.run_directory import register_resolvers
from bikkle_rl.training import evaluate_run, run_summary, train

log = logging.getLogger("bikkle_rl.train")
register_resolvers()  # train.yaml's run directory: ${run_dir:...} and ${run_id:}


@hydra.main(version_base=None, config_path=f"pkg://{CONFIG_MODULE}", config_name="train")
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    cfg = command_line_config(cfg)
    config_file = write_atomically(run_dir / "config.yaml", lambda f: f.write(OmegaConf.to_yaml(cfg).encode()))
    log.info(f"bikkle-train: {run_summary(cfg)}; run directory {run_dir} (config: {config_file.name})")
    run = train(cfg, run_dir)
    if run.stopped:
        raise SystemExit(128 + signal.Signals[run.stopped].value)
    evaluate_run(cfg, run, run_dir)
    log.info(f"run directory: {run_dir}")


if __name__ == "__main__":
    main()
