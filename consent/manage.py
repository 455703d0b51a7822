"""The ``consentry`` console script: Flask's CLI around ``create_app`` (like Superset's)."""

import sys

from flask.cli import FlaskGroup

from consent import create_app
from core.config import ConfigError

cli = FlaskGroup(create_app=create_app, help="Consentry: consent with proof.")


def main() -> None:
    """Run a command; a configuration error ends it with its message, not a traceback."""
    try:
        cli.main()
    except ConfigError as e:
        sys.exit(f"consentry: configuration error: {e}")
