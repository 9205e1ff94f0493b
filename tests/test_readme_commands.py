"""The README's shell commands, run in order in a fresh directory, each on what the earlier ones produced.

The convention (what a README edit must keep):

- Every fenced ```` ```bash ```` block of ``README.md`` holds commands a reader runs top to bottom, and this test
  runs every one of them in the README's order (``python`` blocks are examples of the API, not run here).
- A line is one command; a trailing backslash continues it; ``#`` starts a comment outside quotes; ``a && b``
  is two commands; leading ``NAME=value`` words set environment variables.
- Each command runs with a short budget appended (:func:`budget`: Hydra overrides or command-line flags, where
  the last value wins): few frames, few episodes, no compile, no video, one gaze scenario and one reference
  where the command names none, a sweep's jobs one at a time, so the chain takes a couple of minutes rather
  than hours.
- A command that builds on an earlier run names that run's directory (``hydra.run.dir=outputs/quickstart``,
  ``hydra.sweep.dir=multirun/seeds``), never a directory named by date and time.
- A command is only left out when it matches an entry of :data:`SKIPPED`, which says why: installing, the
  test suite itself, benchmarks, and what needs a person's eye tracker or the sessions recorded with one.
  A program this test does not know fails the quick check, so a new command is run or skipped on purpose.

Each command runs in this process through its program's entry point (the function its console script calls,
found in the package's metadata, with the command's words as ``sys.argv``), in a fresh directory: a subprocess
would spend more time importing torch than running the budgeted command. The play window runs headless
(``SDL_VIDEODRIVER=dummy``): nobody presses keys or moves the pointer.

Marked slow: ``python -m pytest -m slow tests/test_readme_commands.py`` runs the chain (the other tests here
are quick and always run).
"""

from __future__ import annotations

import re
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

SKIPPED: dict[str, str] = {
    r"^pip install": "installs: the test runs in the installed environment",
    r"^python -m pytest": "the test suite itself",
    r"^python benchmarks/": "benchmarks run for minutes to hours; tests/benchmarks checks their parts",
    r"--gaze lsl": "reads an eye tracker over LSL (tests/human/test_study_end_to_end.py runs a simulated one)",
    r"checkpoint=agent\.pt": "fine-tunes on the sessions a person recorded with an eye tracker",
}
"""Regular expression on a command -> why it is not run."""

PROGRAMS = ("bikkle-train", "bikkle-eval", "bikkle-finetune", "bikkle-aggregate", "bikkle-play")
"""The programs this test runs (with :func:`budget`)."""

FRAMES = 1024
"""Training frames of a budgeted run (PPO: one batch of 64 arenas, two with ``experiment=ppo_mlp``)."""

TRAIN_BUDGET = (f"total_frames={FRAMES}", "num_envs=64", "compile=false", "checkpoint.every_frames=1024",
                f"evaluation.every_frames={4 * FRAMES}", "evaluation.curve_episodes=4", "evaluation.episodes=4",
                "evaluation.video=false", "evaluation.scenarios=[correlated]", "evaluation.references=[greedy]")
SAC_BUDGET = ("total_frames=1024", "algo.init_random_frames=768")
"""On top of :data:`TRAIN_BUDGET` for SAC: one batch of gradient steps after the random warm-up."""
EVAL_BUDGET = ("episodes=4", "video=false", "scenarios=[correlated]", "references=[greedy]")
FINETUNE_BUDGET = (f"total_frames={FRAMES}", "evaluation.episodes=4", "evaluation.scenarios=[correlated]",
                   "evaluation.references=[greedy]")
PLAY_BUDGET = ("--episodes", "1", "--countdown", "0", "--step-rate", "1000", "--frame-rate", "1000", "--size", "64")
KEPT_IF_SET = ("scenarios", "evaluation.scenarios", "references", "evaluation.references")
"""Settings the budget leaves to the command when it sets them (the work it is about, not its size)."""


@dataclass
class Command:
    """One README command: its words after the environment assignments, and those assignments."""

    text: str
    argv: list[str]
    env: dict[str, str]

    @property
    def program(self) -> str:
        return self.argv[0] if self.argv else ""


def bash_blocks(markdown: str) -> list[str]:
    """The bodies of the ```` ```bash ```` fenced blocks, in order (indented blocks in lists included)."""
    blocks, body, indent = [], None, ""
    for line in markdown.splitlines():
        fence = re.match(r"^(\s*)```(\w*)\s*$", line)
        if body is None and fence and fence.group(2) == "bash":
            body, indent = [], fence.group(1)
        elif body is not None and fence and not fence.group(2):
            blocks.append("\n".join(body))
            body = None
        elif body is not None:
            body.append(line.removeprefix(indent))
    return blocks


def block_commands(block: str) -> list[Command]:
    """The commands of a block (see the module docstring)."""
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars="&")
        lexer.whitespace_split, lexer.commenters = True, "#"
        words = list(lexer)
        parts: list[list[str]] = [[]]
        for word in words:
            parts.append([]) if word == "&&" else parts[-1].append(word)
        for part in filter(None, parts):
            env = {}
            while part and re.match(r"^[A-Z_][A-Z0-9_]*=", part[0]):
                name, _, value = part.pop(0).partition("=")
                env[name] = value
            commands.append(Command(shlex.join(part), part, env))
    return commands


def readme_commands() -> list[Command]:
    return [command for block in bash_blocks(README.read_text()) for command in block_commands(block)]


def skip_reason(command: Command) -> str | None:
    return next((reason for pattern, reason in SKIPPED.items() if re.search(pattern, command.text)), None)


def budget(command: Command) -> list[str]:
    """What is appended to a command to run it in seconds."""
    program, args = command.program, command.argv[1:]
    set_keys = {arg.partition("=")[0] for arg in args}
    extra: list[str]
    if program == "bikkle-train":
        extra = list(TRAIN_BUDGET)
        if any(arg in ("algo=sac", "experiment=sac_mlp") for arg in args):
            extra += SAC_BUDGET
        if any(arg.startswith("resume=") for arg in args):  # continues a finished budgeted run: go further
            extra.append(f"total_frames={2 * FRAMES}")
        if "hydra/launcher=local" in args:  # the sweep's jobs one after the other, in this process
            extra.append("hydra.launcher.n_jobs=1")
    elif program == "bikkle-eval":
        extra = list(EVAL_BUDGET)
    elif program == "bikkle-finetune":
        extra = list(FINETUNE_BUDGET)
    else:
        extra = []
    if extra:
        kept = set_keys.intersection(KEPT_IF_SET)
        return [item for item in extra if item.partition("=")[0] not in kept]
    if program == "bikkle-aggregate":
        return ["--resamples", "200"]
    if program == "bikkle-play":
        return list(PLAY_BUDGET)
    raise AssertionError(f"README command {command.text!r}: this test does not know how to run {program!r}; "
                         "give it a budget here or a reason in SKIPPED")


def entry_point(program: str) -> Callable[[], None]:
    """The function the console script ``program`` calls."""
    found = entry_points(group="console_scripts", name=program)
    assert found, f"no console script {program!r} is installed (pip install -e .)"
    return next(iter(found)).load()


def run_command(argv: list[str]) -> int:
    """Runs ``argv`` as its console script would, in this process; returns its exit status."""
    main = entry_point(argv[0])
    saved = sys.argv
    sys.argv = list(argv)
    try:
        main()
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        sys.argv = saved
    return 0


def test_the_readme_commands_are_found_and_each_is_run_or_skipped_with_a_reason():
    commands = readme_commands()
    texts = [command.text for command in commands]
    assert "bikkle-train hydra.run.dir=outputs/quickstart" in texts  # the main job, after its installs
    assert any(command.env == {"SDL_VIDEODRIVER": "dummy"} for command in commands)
    assert "bikkle-aggregate multirun/seeds" in texts  # a block's last line, after comment-only lines
    for command in commands:
        if skip_reason(command) is None:
            assert command.program in PROGRAMS, f"unknown README command {command.text!r}"
            budget(command)
            entry_point(command.program)
    for pattern in SKIPPED:
        assert any(re.search(pattern, text) for text in texts), f"SKIPPED entry {pattern!r} matches no command"


def test_a_continued_line_is_one_command_and_comments_are_dropped():
    block = 'A=1 bikkle-eval "scenarios=[x,y]" \\\n    protocol=train  # a comment\n# only a comment\nx && y z'
    commands = block_commands(block)
    assert [command.argv for command in commands] == [["bikkle-eval", "scenarios=[x,y]", "protocol=train"],
                                                      ["x"], ["y", "z"]]
    assert commands[0].env == {"A": "1"}
    assert bash_blocks("text\n   ```bash\n   a b\n   ```\n```python\nc\n```\n") == ["a b"]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_readme_commands_run_in_order(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name, value in {"SDL_VIDEODRIVER": "dummy", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "1"}.items():
        monkeypatch.setenv(name, value)
    timings = []
    for command in readme_commands():
        if skip_reason(command) is not None:
            continue
        argv = [*command.argv, *budget(command)]
        for name, value in command.env.items():
            monkeypatch.setenv(name, value)
        start = time.perf_counter()
        failed = f"README command failed: {command.text}\nrun as: {shlex.join(argv)}"
        try:
            status = run_command(argv)
        except Exception as error:  # HYDRA_FULL_ERROR: a recipe's exception comes through with its traceback
            raise AssertionError(failed) from error
        timings.append(f"{time.perf_counter() - start:6.1f} s  {command.text}")
        output = capsys.readouterr()
        assert status == 0, f"{failed}\n{output.out[-3000:]}\n{output.err[-5000:]}"
    with capsys.disabled():
        print("\n" + "\n".join(timings))

    assert (tmp_path / "outputs" / "quickstart" / "report" / "eval.md").is_file()
    assert (tmp_path / "multirun" / "seeds" / "aggregate.md").is_file()
    assert (tmp_path / "outputs" / "recordings" / "session.npz").is_file()
    assert not (tmp_path / "recordings").exists()  # a session is saved under outputs/
