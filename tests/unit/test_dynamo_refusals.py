"""How the DynamoDB adapter reads a refused write: a failed condition, a collision with
another write (sent again, then 409), or throttling (503 with Retry-After)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from likeness.aws import dynamodb
from likeness.aws.dynamodb import CONFLICT_RETRIES, ConditionFailed, DynamoTable, TransactItem
from likeness.errors import ServiceBusy, WriteConflict

OK: dict[str, Any] = {}


def cancelled(*reasons: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": [{"Code": r} for r in reasons],
        },
        "TransactWriteItems",
    )


def error(code: str, operation: str = "PutItem") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class StubClient:
    """A low-level client whose writes answer from a script: an exception is raised, a dict returned."""

    def __init__(self, *answers: Exception | dict[str, Any]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    def _answer(self, operation: str) -> dict[str, Any]:
        self.calls.append(operation)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def transact_write_items(self, **_: Any) -> dict[str, Any]:
        return self._answer("transact_write_items")

    def put_item(self, **_: Any) -> dict[str, Any]:
        return self._answer("put_item")

    def update_item(self, **_: Any) -> dict[str, Any]:
        return self._answer("update_item")

    def get_item(self, **_: Any) -> dict[str, Any]:
        return self._answer("get_item")


@pytest.fixture(autouse=True)
def _no_pauses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    pauses: list[float] = []
    monkeypatch.setattr(dynamodb.time, "sleep", pauses.append)
    yield pauses


WRITES = [
    TransactItem(kind="Put", item={"PK": "A", "SK": "A"}, condition="attribute_not_exists(PK)"),
    TransactItem(kind="Put", item={"PK": "B", "SK": "B"}, condition="attribute_not_exists(PK)"),
]


def transact(client: StubClient) -> None:
    DynamoTable(client=client, table_name="t").transact(WRITES)


def test_a_failed_condition_is_condition_failed_with_its_reasons_and_not_sent_again() -> None:
    client = StubClient(cancelled("None", "ConditionalCheckFailed"))
    with pytest.raises(ConditionFailed) as caught:
        transact(client)
    assert caught.value.reasons == ["None", "ConditionalCheckFailed"]
    assert len(client.calls) == 1


def test_a_failed_condition_wins_over_a_conflict_on_another_item() -> None:
    client = StubClient(cancelled("TransactionConflict", "ConditionalCheckFailed"))
    with pytest.raises(ConditionFailed) as caught:
        transact(client)
    assert caught.value.reasons == ["TransactionConflict", "ConditionalCheckFailed"]
    assert len(client.calls) == 1


def test_a_conflict_is_sent_again_after_a_jittered_pause(_no_pauses: list[float]) -> None:
    client = StubClient(
        cancelled("None", "TransactionConflict"), cancelled("TransactionConflict", "None"), OK
    )
    transact(client)
    assert len(client.calls) == 3
    assert len(_no_pauses) == 2 and all(0 <= p <= 1 for p in _no_pauses)


def test_a_conflict_that_persists_is_a_409_write_conflict() -> None:
    client = StubClient(cancelled("None", "TransactionConflict"))
    with pytest.raises(WriteConflict) as caught:
        transact(client)
    assert len(client.calls) == CONFLICT_RETRIES + 1
    assert caught.value.status_code == 409 and caught.value.error_code == "write_conflict"
    assert caught.value.transient


def test_a_transaction_cancelled_by_throttling_is_retried_then_503_with_retry_after() -> None:
    client = StubClient(cancelled("ThrottlingError", "None"))
    with pytest.raises(ServiceBusy) as caught:
        transact(client)
    assert len(client.calls) == CONFLICT_RETRIES + 1
    assert caught.value.status_code == 503 and caught.value.retry_after


@pytest.mark.parametrize("code", ["ThrottlingException", "ProvisionedThroughputExceededException"])
def test_a_throttled_call_is_503_at_once_as_botocore_already_retried_it(code: str) -> None:
    client = StubClient(error(code, "TransactWriteItems"))
    with pytest.raises(ServiceBusy):
        transact(client)
    assert len(client.calls) == 1
    client = StubClient(error(code, "GetItem"))
    with pytest.raises(ServiceBusy):
        DynamoTable(client=client, table_name="t").get("A", "A")


def test_a_single_write_colliding_with_a_transaction_is_sent_again() -> None:
    client = StubClient(error("TransactionConflictException", "UpdateItem"), {"Attributes": {}})
    assert (
        DynamoTable(client=client, table_name="t").update("A", "A", update="SET x = :x", values={":x": 1})
        == {}
    )
    assert client.calls == ["update_item", "update_item"]
    client = StubClient(error("TransactionConflictException"))
    with pytest.raises(WriteConflict):
        DynamoTable(client=client, table_name="t").put({"PK": "A", "SK": "A"})
    assert len(client.calls) == CONFLICT_RETRIES + 1


def test_a_single_failed_condition_is_condition_failed() -> None:
    client = StubClient(error("ConditionalCheckFailedException"))
    with pytest.raises(ConditionFailed):
        DynamoTable(client=client, table_name="t").put(
            {"PK": "A", "SK": "A"}, condition="attribute_not_exists(PK)"
        )
    assert len(client.calls) == 1


@pytest.mark.parametrize(
    "refusal", [error("ValidationException", "TransactWriteItems"), cancelled("ValidationError", "None")]
)
def test_other_errors_pass_through_unchanged(refusal: ClientError) -> None:
    client = StubClient(refusal)
    with pytest.raises(ClientError) as caught:
        transact(client)
    assert caught.value is refusal
    assert len(client.calls) == 1
