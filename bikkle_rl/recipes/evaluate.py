"""Evaluate a trained agent beside the reference policies on a protocol's gaze scenarios.

    bikkle-eval checkpoint=outputs/.../final.pt                       # seed protocol, 1000 episodes a cell
    bikkle-eval checkpoint=outputs/.../final.pt protocol=gaze-value  # 3 pink + 3 blue: gaze has value
    bikkle-eval checkpoint=outputs/.../final.pt video=attention      # and the transformer's attention drawn
    bikkle-eval -m checkpoint=A/final.pt,B/final.pt hydra/launcher=local

:func:`~bikkle_rl.evaluation.agent_evaluation.run_evaluation` checks the config, evaluates, and writes eval.json,
eval.md, eval.png and a video per scenario into ``out_dir``.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from bikkle_rl.conf import CONFIG_MODULE
from bikkle_rl.evaluation.agent_evaluation import run_evaluation


@hydra.main(version_base=None, config_path=f"pkg://{CONFIG_MODULE}", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    print(OmegaConf.to_yaml(cfg))
    run_evaluation(cfg)
    print(f"report directory: {cfg.out_dir}")


if __name__ == "__main__":
    main()
