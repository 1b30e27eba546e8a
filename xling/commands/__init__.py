"""The app's jobs as commands (``python -m xling detect | fill-mask | search | map | train | harvest``).

Each module holds one command: ``add_command(commands)`` adds its parser and handler to the
``xling`` sub-command table. A handler takes ``(args, out)``, writes a table (or one JSON object
with ``--json``) to ``out`` and returns the exit status; it calls the same library functions as
the app's tab, and raises :class:`~xling.errors.XlingError` for anything the user can fix.
``train`` and ``harvest`` take their options and handler from the library
(:mod:`xling.training.command`, :mod:`xling.data.harvest`), whose old ``python -m`` entries stay
as aliases. What the commands write (tables, JSON, progress) is :mod:`xling.commands.output`.
"""
