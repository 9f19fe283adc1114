"""DynamoTable.batch_write on moto (the table from template.yaml): past DynamoDB's 25-item limit."""

from __future__ import annotations

import secrets


def test_batch_write_puts_and_deletes_more_than_one_request_holds(aws: dict[str, str]) -> None:
    from likeness.wiring import table

    t = table()
    pk = f"MEDIAFILE#acc_{secrets.token_hex(4)}#file_1"
    t.batch_write(puts=[{"PK": pk, "SK": f"TRACE#{n:06d}", "trace_id": n} for n in range(60)])
    assert [item["trace_id"] for item in t.query(pk, sk_prefix="TRACE#")] == list(range(60))

    t.batch_write(
        puts=[{"PK": pk, "SK": "TRACE#000000", "trace_id": 0, "identity_uuid": "abc"}],
        deletes=[(pk, f"TRACE#{n:06d}") for n in range(1, 60)],
    )
    assert t.query(pk, sk_prefix="TRACE#") == [
        {"PK": pk, "SK": "TRACE#000000", "trace_id": 0, "identity_uuid": "abc"}
    ]
    t.batch_write()  # nothing to write: no request at all
