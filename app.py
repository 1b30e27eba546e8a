"""xling's web app: ``python app.py`` (Hugging Face Spaces runs this file as it is).

Settings come from the environment (``XLING_MLM``, ``XLING_ENCODER``, ``XLING_CORPUS``; see README).
"""

from xling.config import AppConfig
from xling.ui.app import build_app, launch_options, queue_options

config = AppConfig.from_env()
demo = build_app(config)

if __name__ == "__main__":
    demo.queue(**queue_options()).launch(**launch_options(config))
