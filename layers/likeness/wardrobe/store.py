"""Where wardrobe generations and their results live, under the spec's integer ids.

A generation *is* a job (``job_type = wardrobe_generation``): state, cost, timings and results
come from the shared job record. Two kinds of small items give the integer ids:

  WGEN#<generation_id> / GENERATION   -> job_id (GSI1: ACCOUNT#<account> / WGEN#<created>#<id>)
  WRES#<generation_result_id> / RESULT -> the job result it names, with its generation,
                                          clothing item and avatar (GSI1: ACCOUNT#<account> /
                                          WRES#<created>#<id>)

WGEN is written with the job (one transaction); WRES rows with the job's completion.
A link per clothing item, ``WCLOTH#<clothing_item_id>`` / ``WGEN#<generation_id>``, is written
with the generation too: deleting a clothing item finds its generations through them.

The result list's counters live in their own item, ``ACCOUNT#<account>`` / ``COUNTS#WRES``
(the completion transaction may move the account's other counters): ``results`` for the
account, ``results/clothing_item:<id>`` and ``results/avatar:<id>`` for the results made with
each clothing item (a row's first) and each avatar. They move with the rows: up in the
completion transaction (``result_counts``), down in ``delete_generation``'s.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from likeness.accounts.service import refund_write
from likeness.aws.dynamodb import ConditionFailed, DynamoTable, Filter, Item, TransactItem
from likeness.aws.s3 import BlobStore
from likeness.counters import count_change, count_change_at
from likeness.errors import WriteConflict
from likeness.jobs.models import TERMINAL_STATES, JobState, job_counters, job_key, job_prefix, result_key

GENERATION_JOB_TYPE = "wardrobe_generation"
# generation jobs have their own list under the account (GSI1 ACCOUNT#<id> / WJOB#<created>#<job>)
GENERATION_INDEX_PREFIX = "WJOB"


def generation_key(generation_id: int) -> tuple[str, str]:
    return f"WGEN#{generation_id}", "GENERATION"


def generation_result_key(generation_result_id: int) -> tuple[str, str]:
    return f"WRES#{generation_result_id}", "RESULT"


RESULTS_COUNTER = "results"
RESULT_COUNTS_SK = "COUNTS#WRES"


def result_counts_key(account_id: str) -> tuple[str, str]:
    return f"ACCOUNT#{account_id}", RESULT_COUNTS_SK


def clothing_item_results_counter(clothing_item_id: int) -> str:
    return f"results/clothing_item:{int(clothing_item_id)}"


def avatar_results_counter(avatar_id: int) -> str:
    return f"results/avatar:{int(avatar_id)}"


def result_counts(rows: Sequence[Item], sign: int) -> list[TransactItem]:
    """The counter writes for adding (``sign`` 1) or removing (-1) WRES ``rows``, one item per
    account (empty for no rows): to go in the transaction that writes or deletes them."""
    moved: dict[str, Counter[str]] = {}
    for row in rows:
        counts = moved.setdefault(row["account_id"], Counter())
        counts[RESULTS_COUNTER] += sign
        if row.get("clothing_item_id") is not None:
            counts[clothing_item_results_counter(row["clothing_item_id"])] += sign
        if row.get("avatar_id") is not None:
            counts[avatar_results_counter(row["avatar_id"])] += sign
    return [count_change_at(*result_counts_key(account), counts) for account, counts in moved.items()]


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

    def result_page(
        self, account_id: str, *, offset: int, limit: int, clothing_item_ids: Sequence[int] = ()
    ) -> tuple[list[Item], int]:
        """One page of the account's WRES rows, newest first, and how many there are in all:
        the page from the index (clothing items: a filter on it), the total from counters (a
        row counts for its one clothing item, so the filtered total is the items' sum)."""
        where = None
        names = [RESULTS_COUNTER]
        if clothing_item_ids:
            wanted = sorted({int(i) for i in clothing_item_ids})
            where = Filter(
                f"clothing_item_id IN ({', '.join(f':ci{n}' for n in range(len(wanted)))})",
                values={f":ci{n}": item_id for n, item_id in enumerate(wanted)},
            )
            names = [clothing_item_results_counter(i) for i in wanted]
        rows = self._table.query_page(
            f"ACCOUNT#{account_id}",
            sk_prefix="WRES#",
            index="GSI1",
            forward=False,
            offset=offset,
            limit=limit,
            where=where,
        )
        return rows, sum(self.result_counts(account_id, names).values())

    def result_counts(self, account_id: str, names: Iterable[str]) -> dict[str, int]:
        """The named result counters of the account (0 for one never moved): one item read."""
        item = self._table.get(*result_counts_key(account_id)) or {}
        return {name: max(0, int(item.get(name) or 0)) for name in names}

    def results_of_generations(self, account_id: str, generation_ids: Iterable[int]) -> list[Item]:
        """The WRES rows of the account's generations among ``generation_ids``, read by key
        (the generation's row, its job's result ids, the rows; a row exists once its job
        succeeded): as much as they hold, whatever the account's size. Unknown and other
        accounts' generations have none."""
        generations = [
            g
            for g in self._table.batch_get([generation_key(int(i)) for i in generation_ids])
            if g.get("account_id") == account_id
        ]
        jobs = self._table.batch_get([job_key(g["job_id"]) for g in generations])
        keys = [
            generation_result_key(int(number))
            for job in jobs
            if job.get("account_id") == account_id
            for number in (job.get("inputs") or {}).get("result_ids") or []
        ]
        return [r for r in self._table.batch_get(keys) if r.get("account_id") == account_id]

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
        name = avatar_results_counter(avatar_id)
        return self.result_counts(account_id, [name])[name]

    # ------------------------------------------------------------------ cascade
    def delete_for_clothing_item(self, *, account_id: str, clothing_item_id: int) -> int:
        """Delete every generation that used the clothing item, with its results and files,
        found through the item's links (not by reading the account's generations)."""
        links = self._table.query(clothing_link_pk(clothing_item_id), sk_prefix="WGEN#")
        generations = self._table.batch_get([generation_key(int(link["generation_id"])) for link in links])
        doomed = [g for g in generations if g.get("account_id") == account_id]
        for generation in doomed:
            self.delete_generation(generation)
        return len(doomed)

    def delete_generation(self, generation: Item) -> None:
        """The generation, its job, result rows, links and files, with every counter that
        counted them, in one transaction per 100 writes. An unfinished job is refunded with it
        (its worker finds it gone and stores nothing)."""
        job_id = generation["job_id"]
        for _ in range(3):
            job = self._table.get(*job_key(job_id))
            rows = self.results_of_generations(generation["account_id"], [int(generation["generation_id"])])
            deletes = [
                TransactItem(
                    kind="Delete",
                    key={"PK": generation["PK"], "SK": generation["SK"]},
                    condition="attribute_exists(PK)",
                )
            ]
            deletes += [
                TransactItem(
                    kind="Delete", key=dict(zip(("PK", "SK"), clothing_link_key(int(i), g), strict=True))
                )
                for g in [int(generation["generation_id"])]
                for i in generation.get("clothing_item_ids") or []
            ]
            # the result rows go with their counters, once: a concurrent delete that took them
            # first fails this transaction's conditions
            deletes += result_counts(rows, -1)
            deletes += [
                TransactItem(
                    kind="Delete", key={"PK": r["PK"], "SK": r["SK"]}, condition="attribute_exists(PK)"
                )
                for r in rows
            ]
            deletes += [
                TransactItem(
                    kind="Delete", key=dict(zip(("PK", "SK"), result_key(r["result_id"]), strict=True))
                )
                for r in rows
            ]
            if job is not None:
                deletes += job_removal(job)
            try:
                for start in range(0, len(deletes), 100):
                    self._table.transact(deletes[start : start + 100])
            except ConditionFailed:
                if self._table.get(generation["PK"], generation["SK"]) is None:
                    return  # deleted by a concurrent request
                continue  # the job moved on meanwhile (started, finished): read it again
            self._blobs.delete_prefix(job_prefix(job_id))
            return
        raise WriteConflict(f"generation {generation['generation_id']} kept changing while it was deleted")


def clothing_link_pk(clothing_item_id: int) -> str:
    return f"WCLOTH#{clothing_item_id}"


def clothing_link_key(clothing_item_id: int, generation_id: int) -> tuple[str, str]:
    """A generation made with a clothing item, found from the item (its deletion's cascade)."""
    return clothing_link_pk(clothing_item_id), f"WGEN#{generation_id:012d}"


def clothing_links(
    *, account_id: str, generation_id: int, job_id: str, clothing_item_ids: Sequence[int]
) -> list[TransactItem]:
    """The links written with a generation, one per clothing item it uses."""
    writes = []
    for clothing_item_id in dict.fromkeys(int(i) for i in clothing_item_ids):
        pk, sk = clothing_link_key(clothing_item_id, generation_id)
        item = {
            "PK": pk,
            "SK": sk,
            "account_id": account_id,
            "generation_id": generation_id,
            "job_id": job_id,
        }
        writes.append(TransactItem(kind="Put", item=item))
    return writes


def job_removal(job: Item) -> list[TransactItem]:
    """Deleting a job record for good: conditional on the state it was read in, its counters
    down, and its credits back when it never finished (nor was refunded)."""
    state = JobState(job["state"])
    changes: dict[str, int] = {}
    for name in job_counters(job):
        changes[name] = -1
        changes[f"{name}@{state.value}"] = -1
    writes = [
        TransactItem(
            kind="Delete",
            key={"PK": job["PK"], "SK": job["SK"]},
            condition="#state = :state",
            names={"#state": "state"},
            values={":state": state.value},
        ),
        count_change(job["account_id"], changes),
    ]
    cost = int(job.get("cost") or 0)
    if state not in TERMINAL_STATES and cost > 0 and not job.get("refunded"):
        writes.append(refund_write(job["account_id"], cost))
    return writes
