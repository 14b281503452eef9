"""Many rows into one table in one round trip: COPY on PostgreSQL, one executemany on SQLite.

Rows are plain tuples of already serialised values (JSON columns as JSON text), written on
the connection of the caller's transaction, so they commit or roll back with whatever else
that transaction does. No ORM object, no per-row bind processing: a batch of 100,000 items
writes its rows at the speed of the driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(rows: Sequence[Sequence[Any]]) -> bytes:
    """Rows in PostgreSQL's COPY text format (tab-separated, \\N for NULL, escaped)."""
    if not rows:
        return b""
    # most values hold no tab, line break, backslash or NUL: NULLs are marked with NUL and the
    # rows joined once; only a row set with a backslash or a control character (seen in the
    # counts: a value can only add to them) takes the escaping pass, value by value
    text = "\n".join(["\t".join(["\0" if v is None else str(v) for v in row]) for row in rows])
    if (
        "\\" in text
        or "\r" in text
        or text.count("\n") != len(rows) - 1
        or text.count("\t") != sum(len(row) - 1 for row in rows)
        or text.count("\0") != sum(row.count(None) for row in rows)
    ):
        text = "\n".join(
            "\t".join("\\N" if v is None else str(v).translate(_COPY_ESCAPES) for v in row)
            for row in rows
        )
    else:
        text = text.replace("\0", "\\N")
    return (text + "\n").encode("utf-8")


def insert_rows(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (one value per column, in order) inside ``conn``'s transaction."""
    if not rows:
        return
    names = ", ".join(columns)
    raw = conn.connection.driver_connection
    assert raw is not None
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            copy.write(copy_text(rows))
        return
    marks = ", ".join("?" for _ in columns)
    raw.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
