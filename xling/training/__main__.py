"""``python -m xling.training --config FILE.yaml``: run, or resume, a training run.

An alias of ``python -m xling train`` (:mod:`xling.training.command`): the same arguments, the
same run, the same exit status (0 finished or stopped cleanly, 2 bad config or data, 3 out of
memory, 1 crash).
"""

from __future__ import annotations

import argparse

from xling.training.command import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (``None``: ``sys.argv[1:]``) and train; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m xling.training", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
