"""Media identities' pure pieces: container sniffing, names and hints, uuids, stored values
(embeddings, frame runs, enrollments), appearance ranges and the request models."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from likeness.media.files import clean_filename, sniff_media
from likeness.media.models import IdentityFile, IdentityUpdate, normalize_uuid, parse_hints
from likeness.media.records import IndexDocument, appearances
from likeness.media.store import (
    EnrolledFace,
    Enrollment,
    decode_embedding,
    encode_embedding,
    frame_ranges,
    name_key,
)
from tests.helpers import FACES, face_bytes, png_bytes


def test_containers_are_told_by_their_bytes() -> None:
    clip = (FACES / "short_hamilton_clip.mp4").read_bytes()
    assert sniff_media(clip[:64]) is not None and sniff_media(clip[:64]).content_type == "video/mp4"  # type: ignore[union-attr]
    mov = b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  "
    assert sniff_media(mov).ext == ".mov"  # type: ignore[union-attr]
    mkv = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x88matroska"
    webm = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm"
    assert sniff_media(mkv).content_type == "video/x-matroska"  # type: ignore[union-attr]
    assert sniff_media(webm).content_type == "video/webm"  # type: ignore[union-attr]
    assert sniff_media(b"RIFF\x00\x00\x00\x00AVI LIST").content_type == "video/x-msvideo"  # type: ignore[union-attr]
    for data, kind in ((face_bytes("obama.jpg"), "image/jpeg"), (png_bytes(8, 8), "image/png")):
        sniffed = sniff_media(data[:64])
        assert sniffed is not None and sniffed.content_type == kind and sniffed.media_type.value == "image"
    for other in (b"", b"GIF89a....", b"hello world", b"%PDF-1.7", b"RIFF\x00\x00\x00\x00WAVEfmt "):
        assert sniff_media(other) is None


def test_filenames_are_cleaned() -> None:
    assert clean_filename("../../etc/passwd", "x") == "passwd"
    assert clean_filename("C:\\Videos\\clip one.mp4", "x") == "clip one.mp4"
    assert clean_filename("bad\x00name\n.mp4", "x") == "bad_name_.mp4"
    assert clean_filename(None, "file.mp4") == "file.mp4" and clean_filename("   ", "f") == "f"
    assert len(clean_filename("a" * 400, "f")) == 255


def test_uuids_and_hints() -> None:
    uuid = "a9a901056d6b46ff92da0c3c1a57dff4"
    assert normalize_uuid(uuid.upper()) == uuid
    assert normalize_uuid("a9a90105-6d6b-46ff-92da-0c3c1a57dff4") == uuid
    for bad in ("", "xyz", uuid[:-1], uuid + "0"):
        with pytest.raises(ValueError):
            normalize_uuid(bad)
    other = "0" * 32
    assert parse_hints(None) == [] and parse_hints("") == [] and parse_hints([]) == []
    assert parse_hints(f'["{uuid}", "{other}"]') == [uuid, other]
    assert parse_hints(f" {uuid} ,{other},{uuid},") == [uuid, other]
    for bad in ("[1]", "[", [1], {"a": uuid}, "not-a-uuid", [uuid] * 0 + ["x"] * 101):
        with pytest.raises(ValueError):
            parse_hints(bad)


def test_names_are_keyed_case_and_space_insensitively() -> None:
    assert name_key("  Cary   GRANT ") == name_key("cary grant") == "cary grant"
    assert name_key("Straße") == name_key("STRASSE")


def test_embeddings_and_frame_runs_round_trip() -> None:
    vector = [0.1 * i - 3 for i in range(128)]
    data = encode_embedding(vector)
    assert len(data) == 512
    assert decode_embedding(data) == pytest.approx(vector, abs=1e-6)
    assert frame_ranges([7, 1, 2, 3, 3, 9, 10]) == [[1, 3], [7, 7], [9, 10]]
    assert frame_ranges([]) == []


def test_an_enrollment_keeps_the_newest_faces_and_one_per_trace() -> None:
    enrollment = Enrollment(identity_uuid="u", profile=(1.0, 2.0))
    for trace_id in range(5):
        enrollment.add(
            EnrolledFace(embedding=(float(trace_id),), kind="bound", file_uuid="f", trace_id=trace_id), cap=3
        )
    assert [f.trace_id for f in enrollment.faces] == [2, 3, 4]
    enrollment.add(EnrolledFace(embedding=(9.0,), kind="bound", file_uuid="f", trace_id=3), cap=3)
    assert [(f.trace_id, f.embedding) for f in enrollment.faces] == [(2, (2.0,)), (4, (4.0,)), (3, (9.0,))]
    assert enrollment.count == 4 and enrollment.embeddings[0] == (1.0, 2.0)
    dropped = enrollment.drop_traces("f", {2, 4})
    assert [f.trace_id for f in dropped] == [2, 4] and [f.trace_id for f in enrollment.faces] == [3]
    enrollment.add(EnrolledFace(embedding=(0.5,), kind="cluster", file_uuid="f"), cap=3)
    enrollment.drop_traces("f")  # every trace of the file; the cluster embedding has none
    assert [f.kind for f in enrollment.faces] == ["cluster"]


def test_appearances_merge_touching_ranges_and_end_with_their_last_frame() -> None:
    shown = appearances([(30, 59), (0, 29), (100, 120), (110, 115)], 30.0)
    assert [(a.start_frame, a.end_frame, a.start_time, a.end_time) for a in shown] == [
        (0, 59, 0.0, 2.0),
        (100, 120, 3.333, 4.033),
    ]
    assert appearances([(0, 0)], None)[0].end_time == 0.0
    assert appearances([], 25.0) == []


def test_index_document_finds_a_face_by_frame_and_index() -> None:
    doc = IndexDocument(
        {
            "traces": [
                {
                    "trace_id": 0,
                    "detections": [{"frame_number": 3, "idx": 0, "box": [0, 0, 1, 1], "score": 0.9}],
                },
                {
                    "trace_id": 4,
                    "detections": [{"frame_number": 3, "idx": 1, "box": [2, 2, 3, 3], "score": 0.8}],
                },
            ]
        }
    )
    assert doc.trace_of(3, 1) == 4 and doc.trace_of(3, 0) == 0 and doc.trace_of(4, 0) is None
    assert doc.detections(4)[0]["score"] == 0.8 and doc.detections(9) == []


def test_request_models() -> None:
    with pytest.raises(ValidationError):
        IdentityUpdate(name=None)
    with pytest.raises(ValidationError):
        IdentityUpdate.model_validate({"status": None})
    assert IdentityUpdate.model_validate({"tmdb_id": None}).changes() == {"tmdb_id": None}
    assert IdentityUpdate.model_validate({}).changes() == {}
    parsed = IdentityFile.model_validate(
        {"identity_uuid": "A9A901056D6B46FF92DA0C3C1A57DFF4", "name": " Cary ", "created_at": "ignored"}
    )
    assert parsed.identity_uuid == "a9a901056d6b46ff92da0c3c1a57dff4" and parsed.name == "Cary"
    assert parsed.source.value == ".json" and parsed.status.value == "confirmed"
    for bad in (
        {"name": "x"},
        {"identity_uuid": "nope", "name": "x"},
        {"identity_uuid": "0" * 32, "name": ""},
    ):
        with pytest.raises(ValidationError):
            IdentityFile.model_validate(bad)
    with pytest.raises(ValidationError):
        IdentityFile.model_validate({"identity_uuid": "0" * 32, "name": "x", "metadata": {"n": float("nan")}})
