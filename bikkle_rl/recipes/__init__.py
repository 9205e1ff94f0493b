"""The commands: thin entry points, one a file, reading top to bottom (their work is the package's).

``bikkle-train`` (:mod:`.train`), ``bikkle-eval`` (:mod:`.evaluate`) and ``bikkle-finetune`` (:mod:`.finetune_gaze`)
are Hydra apps on the configs of :mod:`bikkle_rl.conf`; ``bikkle-aggregate`` (:mod:`.aggregate`) takes plain
arguments.
"""
