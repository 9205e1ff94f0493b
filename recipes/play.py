"""Play Bikkle in a window (see ``bikkle_rl.human.cli`` for the options; installed as ``bikkle-play``)."""

from bikkle_rl.human.cli import main

if __name__ == "__main__":
    main()
