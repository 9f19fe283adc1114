"""DynamoDB single-table adapter over an injected low-level client.

Items are plain dicts of Python values; (de)serialisation happens here and nowhere else.

A write DynamoDB refuses falls in one of three kinds:

* a condition did not hold (``ConditionalCheckFailed``): ``ConditionFailed``, for the caller
  to turn into the domain's answer (name taken, not found, ...);
* it collided with another write of the same items (``TransactionConflict``): sent again a
  few times after a jittered pause, then ``WriteConflict`` (409: nothing was changed);
* DynamoDB is throttling (botocore has already retried those calls):
  ``ServiceBusy`` (503 with Retry-After).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from likeness.errors import ServiceBusy, WriteConflict

Item = dict[str, Any]

# error codes of a call, and cancellation reason codes of a transaction, that mean "not now"
CONFLICT_CODES = frozenset({"TransactionConflictException", "TransactionConflict"})
THROTTLE_CODES = frozenset(
    {
        "ThrottlingException",
        "ThrottlingError",
        "ProvisionedThroughputExceededException",
        "ProvisionedThroughputExceeded",
        "RequestLimitExceeded",
    }
)
CONFLICT_RETRIES = 3  # sends after the first, for a write that collided with another
RETRY_BASE_SECONDS = 0.05


def _error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (None for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code else None


def _cancellation_reasons(exc: BaseException) -> list[str | None]:
    response = getattr(exc, "response", None) or {}
    return [r.get("Code") for r in response.get("CancellationReasons", [])]


def _refusal(exc: BaseException) -> str | None:
    """Why DynamoDB refused a write: "condition", "conflict", "throttled", or None (an error
    that is not a refusal: a bad request, a missing table, ...). A cancelled transaction with
    one failed condition is "condition", whatever its other items say: sent again, it fails
    again."""
    code = _error_code(exc)
    if code == "ConditionalCheckFailedException":
        return "condition"
    if code in CONFLICT_CODES:
        return "conflict"
    if code != "TransactionCanceledException":
        return None
    reasons = _cancellation_reasons(exc)
    if "ConditionalCheckFailed" in reasons:
        return "condition"
    if any(r in THROTTLE_CODES for r in reasons):
        return "throttled"
    if any(r in CONFLICT_CODES for r in reasons):
        return "conflict"
    return None


def _serializer() -> Any:
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer()


def _deserializer() -> Any:
    from boto3.dynamodb.types import TypeDeserializer

    return TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    # DynamoDB has no float type: numbers travel as Decimal
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, set):
        return {_from_dynamo(v) for v in value}
    # boto3 wraps binary values in Binary
    if type(value).__name__ == "Binary":
        return bytes(value.value)
    return value


@dataclass
class TransactItem:
    """One write of a transaction, with the condition that guards it."""

    kind: str  # "Put" | "Update" | "Delete" | "ConditionCheck"
    key: Item | None = None
    item: Item | None = None
    condition: str | None = None
    update: str | None = None
    names: dict[str, str] = field(default_factory=dict)
    values: Item = field(default_factory=dict)


@dataclass(frozen=True)
class Filter:
    """A query's FilterExpression: applied by DynamoDB after the key condition, so it narrows
    what comes back but not what is read. Placeholders must not clash with ``#pk``/``#sk``/
    ``:pk``/``:sk``."""

    expression: str
    names: dict[str, str] = field(default_factory=dict)
    values: Item = field(default_factory=dict)


_END = object()


class ConditionFailed(Exception):
    """A conditional write did not hold. ``reasons`` lists per-item codes for transactions."""

    def __init__(self, reasons: Sequence[str | None] = ()) -> None:
        super().__init__("condition failed")
        self.reasons = list(reasons)


class DynamoTable:
    def __init__(self, *, client: Any, table_name: str) -> None:
        self._client = client
        self.table_name = table_name
        self._ser = _serializer()
        self._de = _deserializer()

    # -- (de)serialisation
    def _dump(self, item: Item) -> dict[str, Any]:
        return {k: self._ser.serialize(v) for k, v in _to_dynamo(item).items()}

    def _load(self, raw: dict[str, Any]) -> Item:
        return _from_dynamo({k: self._de.deserialize(v) for k, v in raw.items()})

    def _values(self, values: Item) -> dict[str, Any]:
        return {k: self._ser.serialize(_to_dynamo(v)) for k, v in values.items()}

    # -- single items
    def get(self, pk: str, sk: str, *, consistent: bool = True) -> Item | None:
        resp = self._call(
            self._client.get_item,
            TableName=self.table_name,
            Key=self._dump({"PK": pk, "SK": sk}),
            ConsistentRead=consistent,
        )
        raw = resp.get("Item")
        return self._load(raw) if raw else None

    def put(
        self,
        item: Item,
        *,
        condition: str | None = None,
        names: dict[str, str] | None = None,
        values: Item | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"TableName": self.table_name, "Item": self._dump(item)}
        self._condition_kwargs(kwargs, condition, names, values)
        self._write(self._client.put_item, **kwargs)

    def update(
        self,
        pk: str,
        sk: str,
        *,
        update: str,
        condition: str | None = None,
        names: dict[str, str] | None = None,
        values: Item | None = None,
    ) -> Item:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": self._dump({"PK": pk, "SK": sk}),
            "UpdateExpression": update,
            "ReturnValues": "ALL_NEW",
        }
        self._condition_kwargs(kwargs, condition, names, values)
        resp = self._write(self._client.update_item, **kwargs)
        return self._load(resp.get("Attributes", {}))

    def delete(
        self,
        pk: str,
        sk: str,
        *,
        condition: str | None = None,
        names: dict[str, str] | None = None,
        values: Item | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"TableName": self.table_name, "Key": self._dump({"PK": pk, "SK": sk})}
        self._condition_kwargs(kwargs, condition, names, values)
        self._write(self._client.delete_item, **kwargs)

    # -- collections
    def query(self, pk: str, **options: Any) -> list[Item]:
        """Every item of ``iter_query`` (same options), as a list."""
        return list(self.iter_query(pk, **options))

    def iter_query(
        self,
        pk: str,
        *,
        sk_prefix: str | None = None,
        sk_below: str | None = None,
        index: str | None = None,
        forward: bool = True,
        limit: int | None = None,
        where: Filter | None = None,
    ) -> Iterator[Item]:
        """Items of one partition; ``index`` names a GSI whose keys are ``<index>PK`` / ``<index>SK``."""
        kwargs = self._query_kwargs(pk, sk_prefix=sk_prefix, sk_below=sk_below, index=index, forward=forward)
        self._filter_kwargs(kwargs, where)
        seen = 0
        while True:
            if limit is not None:
                # never ask for more than is still wanted: a page reads only the page
                kwargs["Limit"] = max(limit - seen, 1) if where is None else max(limit - seen, 25)
            resp = self._call(self._client.query, **kwargs)
            for raw in resp.get("Items", []):
                yield self._load(raw)
                seen += 1
                if limit is not None and seen >= limit:
                    return
            last = resp.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def query_page(
        self,
        pk: str,
        *,
        offset: int,
        limit: int,
        sk_prefix: str | None = None,
        index: str | None = None,
        forward: bool = True,
        where: Filter | None = None,
    ) -> list[Item]:
        """The items at ``[offset, offset + limit)`` of a query, in the index's order.

        The ``offset`` items before the page are counted (``Select=COUNT``), never returned, so a
        page costs its own items plus the keys before it; a first page reads only itself."""
        if limit <= 0:
            return []
        start = self._skip(pk, offset, sk_prefix=sk_prefix, index=index, forward=forward, where=where)
        if start is _END:
            return []
        kwargs = self._query_kwargs(pk, sk_prefix=sk_prefix, index=index, forward=forward)
        self._filter_kwargs(kwargs, where)
        if start is not None:
            kwargs["ExclusiveStartKey"] = start
        out: list[Item] = []
        while len(out) < limit:
            wanted = limit - len(out)
            kwargs["Limit"] = wanted if where is None else max(wanted, 25)
            resp = self._call(self._client.query, **kwargs)
            out.extend(self._load(raw) for raw in resp.get("Items", [])[:wanted])
            last = resp.get("LastEvaluatedKey")
            if not last:
                break
            kwargs["ExclusiveStartKey"] = last
        return out

    def count(
        self, pk: str, *, sk_prefix: str | None = None, index: str | None = None, where: Filter | None = None
    ) -> int:
        """How many items a query matches, counted by DynamoDB (no item is returned). For small,
        bounded partitions only: an account-sized list keeps a counter instead."""
        kwargs = self._query_kwargs(pk, sk_prefix=sk_prefix, index=index, forward=True)
        self._filter_kwargs(kwargs, where)
        kwargs["Select"] = "COUNT"
        total = 0
        while True:
            resp = self._call(self._client.query, **kwargs)
            total += int(resp.get("Count", 0))
            last = resp.get("LastEvaluatedKey")
            if not last:
                return total
            kwargs["ExclusiveStartKey"] = last

    def _skip(
        self,
        pk: str,
        offset: int,
        *,
        sk_prefix: str | None,
        index: str | None,
        forward: bool,
        where: Filter | None,
    ) -> dict[str, Any] | None | object:
        """The key to continue after ``offset`` matching items (None: from the start; ``_END``:
        there are no more). With ``Limit`` at what is left to skip, a filtered count never
        overshoots: it evaluates at most that many items."""
        if offset <= 0:
            return None
        kwargs = self._query_kwargs(pk, sk_prefix=sk_prefix, index=index, forward=forward)
        self._filter_kwargs(kwargs, where)
        kwargs["Select"] = "COUNT"
        left = offset
        while left > 0:
            kwargs["Limit"] = left
            resp = self._call(self._client.query, **kwargs)
            left -= int(resp.get("Count", 0))
            last = resp.get("LastEvaluatedKey")
            if not last:
                return _END
            kwargs["ExclusiveStartKey"] = last
        return kwargs["ExclusiveStartKey"]

    def _query_kwargs(
        self,
        pk: str,
        *,
        sk_prefix: str | None = None,
        sk_below: str | None = None,
        index: str | None = None,
        forward: bool = True,
    ) -> dict[str, Any]:
        pk_attr, sk_attr = (f"{index}PK", f"{index}SK") if index else ("PK", "SK")
        expression = "#pk = :pk"
        names = {"#pk": pk_attr}
        values: Item = {":pk": pk}
        if sk_prefix and sk_below:
            raise ValueError("sk_prefix and sk_below cannot be combined")
        if sk_prefix:
            expression += " AND begins_with(#sk, :sk)"
            names["#sk"] = sk_attr
            values[":sk"] = sk_prefix
        if sk_below:
            expression += " AND #sk < :sk"
            names["#sk"] = sk_attr
            values[":sk"] = sk_below
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": forward,
        }
        if index:
            kwargs["IndexName"] = index
        return kwargs

    def _filter_kwargs(self, kwargs: dict[str, Any], where: Filter | None) -> None:
        """Adds the filter, then serialises the expression values (the key's and the filter's)."""
        values = dict(kwargs["ExpressionAttributeValues"])
        if where is not None:
            kwargs["FilterExpression"] = where.expression
            kwargs["ExpressionAttributeNames"] = {**kwargs["ExpressionAttributeNames"], **where.names}
            values.update(where.values)
        kwargs["ExpressionAttributeValues"] = self._values(values)

    def batch_get(self, keys: Sequence[tuple[str, str]]) -> list[Item]:
        out: list[Item] = []
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 100):
            request: dict[str, Any] = {
                self.table_name: {
                    "Keys": [self._dump({"PK": pk, "SK": sk}) for pk, sk in unique[start : start + 100]]
                }
            }
            while request:
                resp = self._call(self._client.batch_get_item, RequestItems=request)
                out.extend(self._load(raw) for raw in resp.get("Responses", {}).get(self.table_name, []))
                request = resp.get("UnprocessedKeys") or {}
        return out

    def batch_write(self, *, puts: Sequence[Item] = (), deletes: Sequence[tuple[str, str]] = ()) -> None:
        """Unconditional puts and deletes, 25 to a request (DynamoDB's limit), unprocessed ones resent."""
        requests: list[dict[str, Any]] = [{"PutRequest": {"Item": self._dump(item)}} for item in puts]
        requests += [{"DeleteRequest": {"Key": self._dump({"PK": pk, "SK": sk})}} for pk, sk in deletes]
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self.table_name: requests[start : start + 25]}
            for attempt in range(8):
                resp = self._call(self._client.batch_write_item, RequestItems=pending)
                pending = resp.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(1.0, 0.05 * 2**attempt))  # throttled: back off before resending
            else:
                raise ServiceBusy(
                    f"the database is busy: {len(pending[self.table_name])} writes were left unprocessed"
                )

    def transact(self, items: Sequence[TransactItem]) -> None:
        """All writes or none. Raises ConditionFailed with one reason code per item when a
        condition did not hold; a transaction that collided with other writes is sent again."""
        ops = []
        for t in items:
            op: dict[str, Any] = {"TableName": self.table_name}
            if t.kind == "Put":
                assert t.item is not None
                op["Item"] = self._dump(t.item)
            else:
                assert t.key is not None
                op["Key"] = self._dump(t.key)
            if t.update:
                op["UpdateExpression"] = t.update
            self._condition_kwargs(op, t.condition, t.names, t.values)
            ops.append({t.kind: op})
        self._write(self._client.transact_write_items, TransactItems=ops)

    # -- helpers
    def _condition_kwargs(
        self,
        kwargs: dict[str, Any],
        condition: str | None,
        names: dict[str, str] | None,
        values: Item | None,
    ) -> None:
        if condition:
            kwargs["ConditionExpression"] = condition
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if values:
            kwargs["ExpressionAttributeValues"] = self._values(values)

    def _call(self, call: Callable[..., Any], **kwargs: Any) -> Any:
        """One request; throttling that outlasted botocore's own retries is ``ServiceBusy``."""
        try:
            return call(**kwargs)
        except Exception as exc:
            if _error_code(exc) in THROTTLE_CODES:
                raise ServiceBusy() from exc
            raise

    def _write(self, call: Callable[..., Any], **kwargs: Any) -> Any:
        """A write (single or transaction): failed conditions are ``ConditionFailed``; a write
        that collided with another (or a transaction cancelled by throttling, which botocore
        does not retry) is sent again after a jittered pause, up to ``CONFLICT_RETRIES`` times."""
        attempt = 0
        while True:
            try:
                return self._call(call, **kwargs)
            except ServiceBusy:
                raise
            except Exception as exc:
                refusal = _refusal(exc)
                if refusal is None:
                    raise
                if refusal == "condition":
                    raise ConditionFailed(_cancellation_reasons(exc)) from exc
                if attempt == CONFLICT_RETRIES:
                    raise (ServiceBusy() if refusal == "throttled" else WriteConflict()) from exc
            # full jitter: racing writers spread out instead of colliding again in step
            time.sleep(random.uniform(0, RETRY_BASE_SECONDS * 2**attempt))
            attempt += 1
