"""gunicorn.conf.py's server settings without Consentry's hooks: the baseline's config."""

import runpy
from pathlib import Path

_settings = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
bind = _settings["bind"]
workers = _settings["workers"]
threads = _settings["threads"]
worker_class = _settings["worker_class"]
