"""The direct path (core.db.DirectStatement) binds each value as SQLAlchemy itself would."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from consent.chain import _INSERT, RECORDS
from core.db import _bound


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 12, 4, 21, 18, 14, 657931, tzinfo=UTC),
        datetime(2026, 12, 4, 21, 18, 14, tzinfo=UTC),  # a whole second: still .000000
        datetime(2026, 12, 4, 21, 18, 14, 5),  # naive, as SQLite reads it back
        datetime(5, 1, 2, 3, 4, 5, 6, tzinfo=UTC),  # a year of one digit
        # Another zone: SQLAlchemy writes its wall time, and so must the direct path.
        datetime(2026, 12, 4, 23, 18, 14, 1, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 12, 4, 21, 18, 14, 2, tzinfo=timezone(timedelta(0), "GMT")),
        date(2026, 12, 4),
        None,
    ],
)
@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.psycopg.dialect()])
def test_times_are_bound_as_sqlalchemy_binds_them(value, dialect):
    for column in ("created_at", "expires_at"):
        own = RECORDS.c[column].type.dialect_impl(dialect).bind_processor(dialect)
        expected = own(value) if own is not None else value
        processors = _INSERT.compiled(dialect).processors
        bound = processors[column](value) if column in processors else value
        assert bound == expected
        assert type(bound) is type(expected)


def test_a_row_is_bound_in_the_statements_order_without_touching_the_callers_dict():
    dialect = sqlite.dialect()
    compiled = _INSERT.compiled(dialect)
    row = {name: None for name in compiled.order}
    row |= {"record_id": "r1", "dnt": True, "choices": {"a": True}}
    row["created_at"] = datetime(2026, 12, 4, 21, 18, 14, 7, tzinfo=UTC)
    given = dict(row)
    bound = _bound(compiled, row)
    assert row == given
    by_name = dict(zip(compiled.order, bound, strict=True))
    assert by_name["record_id"] == "r1"
    assert by_name["dnt"] == 1
    assert by_name["choices"] == '{"a": true}'
    assert by_name["created_at"] == "2026-12-04 21:18:14.000007"
