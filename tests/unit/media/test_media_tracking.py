"""The keyframe tracker on synthetic detections: exact boundaries, shot cuts, flicker."""

from __future__ import annotations

from likeness.media.indexing.tracking import FrameFace, Tracker


def face(frame: int, x: float, idx: int = 0, y: float = 50.0, size: float = 60.0) -> FrameFace:
    return FrameFace(frame_number=frame, idx=idx, box=(x, y, x + size, y + size), score=0.9)


def run(frames: dict[int, list[FrameFace]], last: int, stride: int = 3, cuts: tuple[int, ...] = ()):
    asked: list[int] = []

    def between(n: int) -> list[FrameFace]:
        asked.append(n)
        return frames.get(n, [])

    tracker = Tracker(stride=stride, detect_between=between)
    for n in range(last + 1):
        if n in cuts:
            tracker.cut(n)
        if n % stride == 0:
            tracker.keyframe(n, frames.get(n, []))
    return tracker.finish(last), asked


def test_a_face_entering_and_leaving_between_keyframes_gets_exact_first_and_last_frames():
    # on screen from frame 4 to 13, moving right 2 px a frame; keyframes are 0, 3, 6, 9, 12, 15
    frames = {n: [face(n, 100 + 2 * n)] for n in range(4, 14)}
    tracks, asked = run(frames, last=17)
    assert len(tracks) == 1
    numbers = [f.frame_number for f in tracks[0].faces]
    assert numbers[0] == 4 and numbers[-1] == 13
    # only frames next to the boundaries were searched, not every frame
    assert set(asked) <= {4, 5, 13, 14}


def test_a_shot_cut_splits_a_face_that_stays_in_place():
    frames = {n: [face(n, 100)] for n in range(0, 12)}
    tracks, _ = run(frames, last=11, cuts=(7,))
    spans = sorted((t.first.frame_number, t.last.frame_number) for t in tracks)
    assert spans == [(0, 6), (7, 11)]


def test_one_missed_keyframe_does_not_break_the_track():
    frames = {n: [face(n, 100 + n)] for n in range(0, 16) if n != 6}
    tracks, _ = run(frames, last=15)
    assert len(tracks) == 1
    assert tracks[0].first.frame_number == 0 and tracks[0].last.frame_number == 15


def test_two_faces_side_by_side_stay_apart():
    frames = {n: [face(n, 100, idx=0), face(n, 300, idx=1)] for n in range(0, 10)}
    tracks, _ = run(frames, last=9)
    assert len(tracks) == 2
    assert {round(t.first.box[0]) for t in tracks} == {100, 300}
    assert all(len({f.box[0] for f in t.faces}) == 1 for t in tracks)
