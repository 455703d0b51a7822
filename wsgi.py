"""The WSGI entry point: ``gunicorn --config gunicorn.conf.py wsgi:app``."""

from consentry import create_app

app = create_app()
