"""xling: a multilingual model lab.

The library is layered ``ui -> training -> core``; ``xling.core``, ``xling.data`` and
``xling.training`` never import gradio, so they serve the CLI, notebooks and tests alike.
"""

__version__ = "0.1.0"
