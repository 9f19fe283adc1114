"""Where wardrobe generations and their results live, under the spec's integer ids.

A generation *is* a job (``job_type = wardrobe_generation``): state, cost, timings and results
come from the shared job record. Two kinds of small items give the integer ids:

  WGEN#<generation_id> / GENERATION   -> job_id (GSI1: ACCOUNT#<account> / WGEN#<created>#<id>)
  WRES#<generation_result_id> / RESULT -> the job result it names, with its generation,
                                          clothing item and avatar (GSI1: ACCOUNT#<account> /
                                          WRES#<created>#<id>)

WGEN is written with the job (one transaction); WRES rows with the job's completion.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from likeness.aws.dynamodb import DynamoTable, Item, TransactItem
from likeness.aws.s3 import BlobStore
from likeness.jobs.models import job_key, job_prefix, result_key

GENERATION_JOB_TYPE = "wardrobe_generation"
# generation jobs have their own list under the account (GSI1 ACCOUNT#<id> / WJOB#<created>#<job>)
GENERATION_INDEX_PREFIX = "WJOB"


def generation_key(generation_id: int) -> tuple[str, str]:
    return f"WGEN#{generation_id}", "GENERATION"


def generation_result_key(generation_result_id: int) -> tuple[str, str]:
    return f"WRES#{generation_result_id}", "RESULT"


@dataclass(frozen=True)
class StoredResult:
    data: bytes
    content_type: str


class GenerationStore:
    def __init__(self, *, table: DynamoTable, blobs: BlobStore) -> None:
        self._table = table
        self._blobs = blobs

    # ------------------------------------------------------------------ reads
    def generation_jobs(self, account_id: str, *, newest_first: bool = True) -> Iterator[Item]:
        """The account's generation jobs themselves (state, inputs, outputs), by creation time."""
        return self._table.iter_query(
            f"ACCOUNT#{account_id}",
            sk_prefix=f"{GENERATION_INDEX_PREFIX}#",
            index="GSI1",
            forward=not newest_first,
        )

    def generations(self, account_id: str, *, newest_first: bool = True) -> Iterator[Item]:
        """The account's generation id rows (WGEN), by creation time."""
        return self._table.iter_query(
            f"ACCOUNT#{account_id}", sk_prefix="WGEN#", index="GSI1", forward=not newest_first
        )

    def results(self, account_id: str, *, newest_first: bool = True) -> Iterator[Item]:
        """The account's generation result rows (WRES), by creation time."""
        return self._table.iter_query(
            f"ACCOUNT#{account_id}", sk_prefix="WRES#", index="GSI1", forward=not newest_first
        )

    def result_row(self, *, account_id: str, generation_result_id: int) -> Item | None:
        row = self._table.get(*generation_result_key(generation_result_id))
        if row is None or row["account_id"] != account_id:
            return None
        return row

    def result_file(self, *, account_id: str, generation_result_id: int) -> StoredResult | None:
        """The bytes of one of the account's results, or None (unknown, another account's, or
        past its availability window and deleted)."""
        row = self.result_row(account_id=account_id, generation_result_id=generation_result_id)
        if row is None:
            return None
        result = self._table.get(*result_key(row["result_id"]))
        if result is None or not self._blobs.exists(result["key"]):
            return None
        return StoredResult(data=self._blobs.get(result["key"]), content_type=result["content_type"])

    def count_results_for_avatar(self, *, account_id: str, avatar_id: int) -> int:
        return sum(1 for r in self.results(account_id) if r.get("avatar_id") == avatar_id)

    # ------------------------------------------------------------------ cascade
    def delete_for_clothing_item(self, *, account_id: str, clothing_item_id: int) -> int:
        """Delete every generation that used the clothing item, with its results and files."""
        doomed = [
            g for g in self.generations(account_id) if clothing_item_id in (g.get("clothing_item_ids") or [])
        ]
        for generation in doomed:
            self.delete_generation(generation)
        return len(doomed)

    def delete_generation(self, generation: Item) -> None:
        job_id = generation["job_id"]
        job = self._table.get(*job_key(job_id))
        rows = [
            r
            for r in self.results(generation["account_id"])
            if r.get("generation_id") == generation["generation_id"]
        ]
        deletes = [TransactItem(kind="Delete", key={"PK": generation["PK"], "SK": generation["SK"]})]
        deletes += [TransactItem(kind="Delete", key={"PK": r["PK"], "SK": r["SK"]}) for r in rows]
        deletes += [
            TransactItem(kind="Delete", key=dict(zip(("PK", "SK"), result_key(r["result_id"]), strict=True)))
            for r in rows
        ]
        if job is not None:
            deletes.append(TransactItem(kind="Delete", key={"PK": job["PK"], "SK": job["SK"]}))
        for start in range(0, len(deletes), 100):
            self._table.transact(deletes[start : start + 100])
        self._blobs.delete_prefix(job_prefix(job_id))
