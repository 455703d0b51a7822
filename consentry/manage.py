"""The ``consentry`` console script: Flask's CLI around ``create_app`` (like Superset's)."""

import sys

from flask.cli import FlaskGroup
from sqlalchemy.exc import OperationalError, ProgrammingError

from consentry import create_app
from core.config import ConfigError

cli = FlaskGroup(create_app=create_app, help="Consentry: consent with proof.")


def main() -> None:
    """Run a command; a configuration error or a missing schema ends it with a message."""
    try:
        cli.main()
    except ConfigError as e:
        sys.exit(f"consentry: configuration error: {e}")
    except (OperationalError, ProgrammingError) as e:
        if not _missing_table(e):
            raise
        sys.exit(
            "consentry: the SQL database has no Consentry tables yet. Run `consentry db upgrade` "
            "first, with the same CONSENTRY_DATA_DIR / CONSENTRY_DATABASE_URL as the server."
        )


def _missing_table(error: Exception) -> bool:
    # SQLite says "no such table"; PostgreSQL raises UndefinedTable ("relation … does not exist").
    orig = getattr(error, "orig", None)
    return "no such table" in str(orig) or type(orig).__name__ == "UndefinedTable"
