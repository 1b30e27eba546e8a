"""``python -m xling``: the command-line interface (see :mod:`xling.cli`)."""

from xling.cli import main

raise SystemExit(main())
