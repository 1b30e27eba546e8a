"""The training command: run, or resume, a training run from a config file.

``python -m xling train --config FILE.yaml`` and its alias ``python -m xling.training --config
FILE.yaml`` (:mod:`xling.training.__main__`) take the arguments :func:`add_arguments` declares
and run :func:`run`. Nothing heavy is imported until :func:`run` starts, so ``--help`` is instant.

Exit status: 0 when the run finished or was stopped cleanly, 2 for a bad config or data (the
message names the problem), 3 when it ran out of memory (the message says what to lower), 1 for a
crash (its traceback is also in ``progress.jsonl``).

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="train")
    >>> add_arguments(parser)
    >>> parser.parse_args(["--config", "run.yaml", "--steps", "10"]).steps
    10
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import TextIO

from xling.errors import XlingError

#: What the exit status means, for ``--help`` (the module docstring says the same).
EXIT_STATUS = (
    "exit status: 0 when the run finished or was stopped cleanly, 2 for a bad config or data, "
    "3 when it ran out of memory, 1 for a crash (its traceback is also in progress.jsonl)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the training command's options (``--config``, ``--output-dir``, ``--steps``,
    ``--no-progress-bar``) to ``parser``."""
    parser.add_argument("--config", required=True, type=Path, help="a YAML or JSON TrainConfig")
    parser.add_argument("--output-dir", help="override the config's output_dir")
    parser.add_argument("--steps", type=int, help="override train.steps")
    parser.add_argument("--no-progress-bar", action="store_true", help="no tqdm bar on stderr")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Train as ``args`` (parsed by :func:`add_arguments`'s options) say; SIGTERM and SIGINT stop the
    run cleanly at the next step.

    Args:
        args: the parsed arguments.
        out: where the one-line result goes (``None``: standard output).

    Returns:
        The exit status (see the module docstring); a crash other than running out of memory is
        raised, so its traceback shows.
    """
    from xling.training.config import TrainConfig

    try:
        config = TrainConfig.from_file(args.config)
        if args.output_dir or args.steps:
            values = config.to_dict()
            if args.output_dir:
                values["output_dir"] = args.output_dir
            if args.steps:
                values["train"]["steps"] = args.steps
            config = TrainConfig.from_dict(values)
    except XlingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from xling.config import Paths
    from xling.training.callbacks import TqdmProgress
    from xling.training.engine import RunControl
    from xling.training.runner import out_of_memory_message, train

    control = RunControl()
    signal.signal(signal.SIGTERM, control.request_stop)
    signal.signal(signal.SIGINT, control.request_stop)
    callbacks = [] if args.no_progress_bar else [TqdmProgress()]
    try:
        result = train(config, callbacks, control, paths=Paths.from_env())
    except XlingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        message = out_of_memory_message(exc)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 3
    print(f"{result.state} at step {result.step}: {result.run_dir}", file=out)
    return 0
