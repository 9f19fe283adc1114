"""Indexing real media: the fixture clip with Lin-Manuel Miranda enrolled, photos, broken files."""

from __future__ import annotations

import pytest

from likeness.errors import FaceRejected, MediaUnreadable
from likeness.media.index_types import IndexResult, KnownIdentity, parse_face_id
from tests.helpers import FACES
from tests.unit.media.conftest import CLIP, LIN

FPS = 29.97
# where the clip cuts from one shot to the next (found by eye and by the cut detector)
SHOT_CUTS = (20, 82, 211)
# Lin's face at >= 48 px, from embedding every face of every frame (the slow reference): frames
# 0-13 (on stage, wide shot) and 82-210 (close up); seconds 0 and 2-7 of the clip
LIN_SECONDS = {0, 2, 3, 4, 5, 6, 7}


def lin_traces(result: IndexResult):
    return [t for t in result.traces if t.identity_uuid == LIN]


def test_the_clip_is_described_as_decoded(clip_result):
    media = clip_result.media
    assert (media.kind, media.width, media.height, media.frame_count) == ("video", 640, 360, 275)
    assert media.fps == pytest.approx(29.97, abs=0.01)
    assert media.duration == pytest.approx(275 / 29.97, abs=0.01)
    assert clip_result.stats.frames_decoded == 275
    assert clip_result.stats.shot_cuts == len(SHOT_CUTS)


def test_lin_is_found_in_both_of_his_shots_with_frame_accurate_ranges(clip_result):
    spans = sorted((t.start_frame, t.end_frame) for t in lin_traces(clip_result))
    assert len(spans) == 2
    (a0, a1), (b0, b1) = spans
    assert a0 == 0 and abs(a1 - 19) <= 1  # the wide shot runs to the cut at frame 20
    assert abs(b0 - 82) <= 1 and abs(b1 - 210) <= 1  # the close-up, cut to cut
    seconds = {int(f / FPS) for s, e in spans for f in range(s, e + 1)}
    assert seconds >= LIN_SECONDS
    assert all(t.distance is not None and t.distance <= 0.6 for t in lin_traces(clip_result))


def test_nobody_else_is_taken_for_lin(clip_result):
    # every other face in the clip (pianist, audience, the public figure) stays unmatched
    others = [t for t in clip_result.traces if t.identity_uuid not in (None, LIN)]
    assert others == []
    lin_frames = {d.frame_number for t in lin_traces(clip_result) for d in t.detections}
    # one Lin per frame
    assert sum(len(t.detections) for t in lin_traces(clip_result)) == len(lin_frames)


def test_no_trace_crosses_a_shot_cut(clip_result):
    for trace in clip_result.traces:
        assert not any(trace.start_frame < cut <= trace.end_frame for cut in SHOT_CUTS), trace


def test_face_ids_are_frame_and_rank_and_unique(clip_result):
    seen = set()
    for trace in clip_result.traces:
        for detection in trace.detections:
            frame, idx = parse_face_id(detection.face_id)
            assert (frame, idx) == (detection.frame_number, detection.idx)
            assert detection.face_id not in seen
            seen.add(detection.face_id)
            assert 0.5 <= detection.score <= 1.0


def test_only_a_few_faces_per_trace_are_embedded(clip_result):
    stats = clip_result.stats
    assert stats.faces_embedded <= 3 * len(clip_result.traces)
    assert stats.faces_embedded < stats.faces_detected / 4
    embedded = [t for t in clip_result.traces if t.embedding is not None]
    assert all(len(t.embedding) == 128 for t in embedded)
    assert all(1 <= len(t.embedded_face_ids) <= 3 for t in embedded)


def test_auto_clusters_hold_unmatched_traces_never_on_screen_together(clip_result):
    for cluster in clip_result.auto_clusters:
        members = [t for t in clip_result.traces if t.trace_id in cluster.trace_ids]
        assert all(t.identity_uuid is None and t.auto_cluster == cluster.cluster_id for t in members)
        # two faces on screen at the same time are never put in one cluster
        frames = [{d.frame_number for d in t.detections} for t in members]
        assert all(not (a & b) for i, a in enumerate(frames) for b in frames[i + 1 :])


def test_the_result_round_trips_through_json(clip_result):
    import json

    again = IndexResult.from_dict(json.loads(json.dumps(clip_result.to_dict())))
    assert again == clip_result


def test_with_nobody_enrolled_lin_recurs_as_one_auto_cluster_over_both_shots(indexer, clip_result):
    result = indexer.index_file(CLIP, kind="video", known=[])
    assert all(t.identity_uuid is None for t in result.traces)
    lin_first_faces = {t.detections[0].face_id for t in lin_traces(clip_result)}
    lin_ids = {t.trace_id for t in result.traces if t.detections[0].face_id in lin_first_faces}
    assert len(lin_ids) == 2
    holding = [c for c in result.auto_clusters if lin_ids & set(c.trace_ids)]
    assert len(holding) == 1 and lin_ids <= set(holding[0].trace_ids)
    # the crowd's dark, blurred faces embed alike and found no identity
    assert len(result.auto_clusters) <= 3


@pytest.mark.parametrize(
    ("photo", "faces"), [("two_people.jpg", 2), ("obama_and_biden.jpg", 3), ("obama.jpg", 1)]
)
def test_photos_are_indexed_as_one_frame(indexer, photo, faces):
    result = indexer.index_file(FACES / photo, kind="image", known=[])
    assert result.media.kind == "image" and result.media.frame_count == 1 and result.media.fps is None
    assert len(result.traces) == faces
    assert all(t.start_frame == t.end_frame == 0 for t in result.traces)
    assert result.auto_clusters == []


def test_an_enrolled_person_is_named_in_a_group_photo(indexer):
    obama = KnownIdentity(
        identity_uuid="obama",
        embeddings=(tuple(indexer.embed_profile((FACES / "obama.jpg").read_bytes())),),
    )
    result = indexer.index_file(FACES / "obama_and_biden.jpg", kind="image", known=[obama])
    assert [t.identity_uuid for t in result.traces].count("obama") == 1


def test_a_profile_image_must_show_one_face(indexer):
    with pytest.raises(FaceRejected):
        indexer.embed_profile((FACES / "two_people.jpg").read_bytes())


def test_a_corrupt_video_fails_with_a_reason(indexer, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64)
    with pytest.raises(MediaUnreadable) as caught:
        indexer.index_file(broken, kind="video", known=[])
    assert "video" in caught.value.message


def test_a_truncated_video_fails_or_indexes_what_is_there(indexer, tmp_path):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(CLIP.read_bytes()[: CLIP.stat().st_size // 3])
    try:
        result = indexer.index_file(cut, kind="video", known=[])
    except MediaUnreadable as exc:
        assert exc.message
    else:
        assert 0 < result.media.frame_count < 275
