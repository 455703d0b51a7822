"""The WSGI entry point: ``gunicorn --config gunicorn.conf.py wsgi:app``."""

from consent import create_app

app = create_app()
