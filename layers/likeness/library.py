"""The internal reference library: the platform's default identities, used for inspiration.

Library-assisted generation (an avatar from a prompt alone, identity drafts without enough
references) picks faces from here. Which faces is deterministic for a given seed, so a
retried job picks the same ones.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from likeness.accounts.models import PLATFORM_ACCOUNT_ID
from likeness.aws.dynamodb import DynamoTable


@dataclass(frozen=True)
class LibraryFace:
    identity_code: str
    name: str
    source_key: str


class ReferenceLibrary:
    def __init__(self, *, table: DynamoTable) -> None:
        self._table = table

    def faces(self) -> list[LibraryFace]:
        """Every default identity whose preprocessing completed (its photo shows one good face)."""
        faces = [
            LibraryFace(identity_code=i["identity_code"], name=i["name"], source_key=i["source_key"])
            for i in self._table.iter_query(
                f"OWNER#{PLATFORM_ACCOUNT_ID}", sk_prefix="IDENTITY#", index="GSI1"
            )
            if i.get("preprocessing_status") == "completed"
        ]
        return sorted(faces, key=lambda f: f.identity_code)

    def pick(self, *, seed: str, count: int, exclude: frozenset[str] = frozenset()) -> list[LibraryFace]:
        """``count`` distinct faces (fewer when the library is smaller), chosen by ``seed``."""
        candidates = [f for f in self.faces() if f.identity_code not in exclude]
        ranked = sorted(
            candidates, key=lambda f: hashlib.sha256(f"{seed}/{f.identity_code}".encode()).hexdigest()
        )
        return ranked[:count]
