"""The SQL models and the Alembic migrations describe the same schema, names included."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade as sql_upgrade

from consentry import create_app
from core.db import db

# Modelled on another branch of issue 6 (consent/models.py EventMark): ignored only while
# no model here declares it, so the compare covers it as soon as one does.
_MODELLED_ELSEWHERE = {"event_marks"} - set(db.metadata.tables)

CONVENTION_NAMES = {
    "sites": {"pk_sites"},
    "consent_records": {
        "pk_consent_records",
        "uq_consent_records_record_id",
        "uq_consent_records_site_seq",
        "fk_consent_records_site_id_sites",
    },
    "api_keys": {"pk_api_keys", "uq_api_keys_lookup"},
    "idempotency_keys": {"pk_idempotency_keys", "fk_idempotency_keys_site_id_sites"},
    "recipients": {"pk_recipients", "uq_recipients_site_external_id"},
    "messages": {"pk_messages", "fk_messages_recipient_id_recipients"},
    "suppressions": {"pk_suppressions"},
}


def _differences(conn: sa.Connection) -> list[tuple]:
    """What Alembic's autogenerate would write into a new migration, as (op, name) pairs."""

    def include(obj, name, kind, reflected, _compare_to):
        return not (kind == "table" and name in _MODELLED_ELSEWHERE)

    context = MigrationContext.configure(conn, opts={"include_object": include})
    return [_describe(diff) for diff in compare_metadata(context, db.metadata)]


def _describe(diff) -> tuple:
    if isinstance(diff, list):  # column changes come as a list of modifications
        return tuple(_describe(d) for d in diff)
    op, item = diff[0], diff[1]
    return op, getattr(item, "name", None) or str(item)


def _constraint_names(conn: sa.Connection) -> dict[str, set[str | None]]:
    inspector = sa.inspect(conn)
    names = {}
    for table in CONVENTION_NAMES:
        found = {inspector.get_pk_constraint(table)["name"]}
        found |= {u["name"] for u in inspector.get_unique_constraints(table)}
        found |= {f["name"] for f in inspector.get_foreign_keys(table)}
        names[table] = found
    return names


def test_the_models_match_the_migrations(app):
    with app.app_context(), db.engine.connect() as conn:
        assert _differences(conn) == []
        assert _constraint_names(conn) == CONVENTION_NAMES


def test_a_database_made_before_the_naming_convention_gets_its_names(
    database_url, tmp_path, monkeypatch
):
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "DATA_DIR": str(tmp_path / "data"),
            "SECRET_KEYS": ["migration-test-key-0123456789"],
        }
    )
    with app.app_context():
        # As upgrades ran before: Alembic names what 0001 and 0002 leave unnamed from the
        # app's metadata, which had SQLAlchemy's default convention (indexes only).
        monkeypatch.setattr(db.metadata, "naming_convention", sa.MetaData().naming_convention)
        sql_upgrade(revision="0002")
        monkeypatch.undo()
        sql_upgrade()
        with db.engine.connect() as conn:
            differences = _differences(conn)
            names = _constraint_names(conn)
        dialect = db.engine.dialect.name
        db.engine.dispose()
    if dialect == "postgresql":
        assert differences == []
        assert names == CONVENTION_NAMES
    else:
        # SQLite keeps them unnamed (0003 says why); only autogenerate notices.
        assert sorted(differences) == [
            ("add_constraint", "uq_api_keys_lookup"),
            ("add_constraint", "uq_consent_records_record_id"),
        ]
        assert None in names["consent_records"]
