"""Shared fixtures: an app on real stores (SQLite or PostgreSQL, and the chdb engine).

chdb lets one process open one data path at a time, so the whole session shares one
engine directory and each test gets its own ClickHouse database in it.
"""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import clickhouse_connect
import pytest
import sqlalchemy as sa
from events_support import chdb_url
from events_support import make_app as make_events_app
from flask_migrate import upgrade as sql_upgrade

from consentry import create_app
from core.db import db
from events import Pipeline

PG_URL = os.environ.get("CONSENTRY_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
KEYS = ["test-signing-key-0123456789abcdef"]


@pytest.fixture(scope="session")
def chdb_root(tmp_path_factory):
    """The one chdb data path of this test process, kept open so tests open it cheaply."""
    root = tmp_path_factory.mktemp("chdb")
    # While one client is open, more clients on the path cost ~15 ms instead of ~300 ms.
    keeper = clickhouse_connect.get_client(dsn=f"chdb://{root}")
    yield root
    keeper.close()


@pytest.fixture
def ev_url(chdb_root) -> str:
    """A fresh ClickHouse database for one events test."""
    return chdb_url(chdb_root, f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def ev_pipelines(tmp_path) -> Iterator:
    """Build bare pipelines (``make(url, **config)``); stop them all, closing every client."""
    made: list[Pipeline] = []

    def make(url: str, data_dir: Path | None = None, upgrade: bool = True, **config) -> Pipeline:
        app = make_events_app(data_dir or tmp_path / "data", url, **config)
        pipeline = app.extensions["events"]
        pipeline.app = app
        made.append(pipeline)
        if upgrade:
            pipeline.upgrade_schema()
        return pipeline

    yield make
    for pipeline in made:
        pipeline.stop(timeout=1)


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """A fresh SQL database: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(_psycopg(PG_URL))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield (
        _psycopg(PG_URL)
        + ("&" if "?" in PG_URL else "?")
        + quote(f"options=-csearch_path={schema}", safe="=&")
    )
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _psycopg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture
def make_app(tmp_path, database_url, chdb_root):
    """Build apps on this test's stores; each can override settings (e.g. SECRET_KEYS)."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    apps = []

    def build(**overrides):
        config = {
            "TESTING": True,
            "DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": database_url,
            "CLICKHOUSE_URL": f"chdb://{chdb_root}?database={database}",
            "SECRET_KEYS": KEYS,
            "SHIP_INTERVAL": 0.05,
            **overrides,
        }
        app = create_app(config)
        with app.app_context():
            sql_upgrade()
            if not apps:
                app.extensions["events"].upgrade_schema()
        apps.append(app)
        return app

    yield build
    for app in apps:
        # Short: an app whose ClickHouse is unreachable would retry for the whole deadline.
        app.extensions["events"].stop(timeout=0.5)
    if apps:
        with apps[0].app_context():
            store = apps[0].extensions["events"].clickhouse
            store.command(f"DROP DATABASE IF EXISTS {database}")
            store.close()
    for app in apps:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
