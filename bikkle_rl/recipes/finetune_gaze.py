"""Fine-tune a pretrained agent on a gaze source, training only the parameters that read gaze.

    bikkle-finetune checkpoint=outputs/.../final.pt                 # gaze-only fine-tune on correlated gaze
    bikkle-finetune checkpoint=outputs/.../final.pt freeze=false    # the unfrozen comparison
    bikkle-finetune checkpoint=outputs/.../final.pt gaze=replay gaze.path=[s1.npz,s2.npz] heldout=[s3.npz]

:func:`~bikkle_rl.finetune.run_finetune` checks the config, trains, and writes the run directory (``out_dir``):
checkpoints, logs and ``report/`` (before and after, beside the references; the value of gaze).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from bikkle_rl.conf import CONFIG_MODULE
from bikkle_rl.finetune import run_finetune


@hydra.main(version_base=None, config_path=f"pkg://{CONFIG_MODULE}", config_name="finetune_gaze")
def main(cfg: DictConfig) -> None:
    print(OmegaConf.to_yaml(cfg))
    run_finetune(cfg)
    print(f"run directory: {cfg.out_dir}")


if __name__ == "__main__":
    main()
