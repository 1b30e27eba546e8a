"""``python -m xling.training --config FILE.yaml``: run, or resume, a training run.

Exit status: 0 when the run finished or was stopped cleanly, 2 for a bad config or data (the
message names the problem), 3 when it ran out of memory (the message says what to lower), 1 for a
crash (its traceback is also in ``progress.jsonl``).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from xling.config import Paths
from xling.errors import XlingError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xling.training", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path, help="a YAML or JSON TrainConfig")
    parser.add_argument("--output-dir", help="override the config's output_dir")
    parser.add_argument("--steps", type=int, help="override train.steps")
    parser.add_argument("--no-progress-bar", action="store_true", help="no tqdm bar on stderr")
    args = parser.parse_args(argv)

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
    print(f"{result.state} at step {result.step}: {result.run_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
