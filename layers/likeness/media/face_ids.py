"""A face's id within its file, in requests and in responses (media-identities spec).

The spec writes a face's id two ways: ``face_{frame_number}`` (the faces list) and
``{frame}_{idx}`` (bind). Only the second names one face when a frame shows several people, so
every response says ``{frame}_{idx}`` (:func:`face_id_for`: ``idx`` counts the frame's faces from
0 by score). Requests (bind, unbind, split) accept:

- ``{frame}_{idx}``, e.g. ``95_0``: the canonical form;
- ``face_{frame}_{idx}``, e.g. ``face_95_0``: the same face;
- ``face_{frame}``, e.g. ``face_95``: the frame's one face. When the frame shows several faces it
  is ambiguous (422 ``ambiguous_face_id``, naming the candidates); when it shows none, 404
  ``face_not_found``.

Anything else (``95``, ``95_a``, ``face_``) is a 422 ``invalid_request``. The canonical id of the
face resolved is what bind, unbind and split answer and audit, whatever spelling was sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from likeness.aws.dynamodb import Item
from likeness.errors import Unprocessable
from likeness.media.index_types import face_id_for
from likeness.media.records import (
    IndexDocument,
    face_not_found,
    invalid_face_id,
    load_index,
    require_file,
    require_indexed,
)
from likeness.media.store import MediaStore

__all__ = ["FaceRef", "face_id_for", "face_trace", "parse_face_ref", "resolve_face"]

_CANONICAL = re.compile(r"([0-9]{1,9})_([0-9]{1,4})")
_PREFIXED = re.compile(r"face_([0-9]{1,9})(?:_([0-9]{1,4}))?")


@dataclass(frozen=True)
class FaceRef:
    """What a request's face_id names: a frame, and the face's idx in it when it says one."""

    frame_number: int
    idx: int | None


def parse_face_ref(face_id: str) -> FaceRef:
    """``"12_0"`` / ``"face_12_0"`` -> (12, 0); ``"face_12"`` -> (12, None); 422 on anything else."""
    text = face_id.strip()
    match = _CANONICAL.fullmatch(text)
    if match is not None:
        return FaceRef(int(match[1]), int(match[2]))
    match = _PREFIXED.fullmatch(text)
    if match is not None:
        return FaceRef(int(match[1]), int(match[2]) if match[2] is not None else None)
    raise invalid_face_id(face_id)


def _ambiguous(file_uuid: str, face_id: str, frame_number: int, idxs: list[int]) -> Unprocessable:
    candidates = ", ".join(face_id_for(frame_number, i) for i in idxs)
    return Unprocessable(
        f"face_id {face_id!r} is ambiguous: frame {frame_number} of file {file_uuid} shows "
        f"{len(idxs)} faces ({candidates})",
        code="ambiguous_face_id",
        fix=f"Send one of {candidates} as face_id ({{frame}}_{{idx}}); "
        f"GET /api/v1/files/{file_uuid}/faces shows which is whom.",
    )


def resolve_face(index: IndexDocument, file_uuid: str, face_id: str) -> tuple[str, int]:
    """The canonical ``{frame}_{idx}`` and trace id of the face ``face_id`` names in this file:
    404 ``face_not_found``, 422 ``invalid_request`` (malformed) or ``ambiguous_face_id``."""
    ref = parse_face_ref(face_id)
    idx = ref.idx
    if idx is None:
        idxs = index.idxs_in_frame(ref.frame_number)
        if len(idxs) > 1:
            raise _ambiguous(file_uuid, face_id, ref.frame_number, idxs)
        if not idxs:
            raise face_not_found(file_uuid, face_id)
        idx = idxs[0]
    trace_id = index.trace_of(ref.frame_number, idx)
    if trace_id is None:
        raise face_not_found(file_uuid, face_id)
    return face_id_for(ref.frame_number, idx), trace_id


def face_trace(
    store: MediaStore,
    account_id: str,
    file_uuid: str,
    face_id: str,
    *,
    indexes: dict[str, IndexDocument] | None = None,
) -> tuple[str, str, Item]:
    """(file_uuid, canonical face_id, trace item) of the face a request names: 404 unknown file
    or face, 409 file not indexed, 422 malformed (checked first) or ambiguous face_id.
    ``indexes`` caches the files' index documents across calls (split names many faces)."""
    file_item = require_file(store, account_id, file_uuid.strip().lower())
    file_uuid = file_item["file_uuid"]
    parse_face_ref(face_id)
    require_indexed(file_item)
    cache = indexes if indexes is not None else {}
    if file_uuid not in cache:
        cache[file_uuid] = load_index(store, account_id, file_uuid)
    face_id, trace_id = resolve_face(cache[file_uuid], file_uuid, face_id)
    trace = store.get_trace(account_id, file_uuid, trace_id)
    if trace is None:
        raise face_not_found(file_uuid, face_id)
    return file_uuid, face_id, trace
