"""The human side: the play window (:mod:`bikkle_rl.human.play`), the ``bikkle-play`` command
(:mod:`bikkle_rl.human.cli`), live fine-tuning, calibration, LSL markers, XDF import and BIDS export.

Sessions are saved in the format of :mod:`bikkle_rl.recording`. Nothing is imported with the package: the play
window needs pygame, which a headless user of the rest never loads.
"""
