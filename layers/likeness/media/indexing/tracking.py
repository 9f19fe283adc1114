"""Following faces from frame to frame: an IoU tracker over keyframe detections.

The detector runs on every ``stride``-th frame (a keyframe). Each detection is associated greedily, by
IoU, with the box each open track predicts for that frame (last box plus its per-frame motion).
Where a track starts or stops, the frames between two keyframes are searched too (the caller keeps
them), so a trace's first and last frames are exact, not rounded to the stride.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["FrameFace", "Track", "Tracker", "iou"]

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class FrameFace:
    """A detection in one frame: ``idx`` is its rank among that frame's faces (by score)."""

    frame_number: int
    idx: int
    box: Box
    score: float
    landmarks: tuple[tuple[float, float], ...] = ()

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


@dataclass
class Track:
    track_id: int
    faces: list[FrameFace] = field(default_factory=list)
    closed: bool = False

    @property
    def first(self) -> FrameFace:
        return self.faces[0]

    @property
    def last(self) -> FrameFace:
        return self.faces[-1]

    def velocity(self) -> tuple[float, float, float, float]:
        """Per-frame box motion from the last two detections (zero with one)."""
        if len(self.faces) < 2:
            return (0.0, 0.0, 0.0, 0.0)
        a, b = self.faces[-2], self.faces[-1]
        dt = b.frame_number - a.frame_number
        if dt <= 0:
            return (0.0, 0.0, 0.0, 0.0)
        return tuple((bv - av) / dt for av, bv in zip(a.box, b.box, strict=True))  # type: ignore[return-value]

    def predict(self, frame_number: int) -> Box:
        dt = frame_number - self.last.frame_number
        v = self.velocity()
        return tuple(b + dv * dt for b, dv in zip(self.last.box, v, strict=True))  # type: ignore[return-value]


def iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


# faces in one frame, detected on demand: the tracker asks for in-between frames at track boundaries
DetectFrame = Callable[[int], Sequence[FrameFace]]


class Tracker:
    """Greedy IoU association of keyframe detections into tracks, with exact boundaries.

    ``detect_between(frame_number)`` returns the faces of a non-key frame; the tracker calls it only
    for frames next to a track's start or end, each frame at most once.
    """

    def __init__(
        self,
        *,
        stride: int,
        detect_between: DetectFrame,
        min_iou: float = 0.3,
        max_gap_frames: int | None = None,
    ) -> None:
        if stride < 1:
            raise ValueError("stride must be >= 1")
        self.stride = stride
        self.min_iou = min_iou
        # a track missing at one keyframe may resume at a later one, up to this many frames after its
        # last detection (detector flicker, a hand passing the face); the gap counts as on screen
        self.max_gap_frames = max_gap_frames if max_gap_frames is not None else 2 * stride
        self._detect_between = detect_between
        self._open: list[Track] = []
        self._paused: list[Track] = []  # missed at the latest keyframe, may resume
        self.tracks: list[Track] = []
        self._next_id = 0
        self._floor = -1  # no track reaches back to or before this frame (the last shot cut - 1)
        self._claimed: set[tuple[int, int]] = set()  # (frame, idx) of in-between faces already in a track

    @property
    def open_tracks(self) -> list[Track]:
        """Tracks detected at the latest keyframe."""
        return list(self._open)

    def _new_track(self, face: FrameFace) -> Track:
        track = Track(track_id=self._next_id, faces=[face])
        self._next_id += 1
        self.tracks.append(track)
        return track

    def _associate(self, candidates: list[Track], faces: Sequence[FrameFace], frame_number: int) -> list[int]:
        """Greedy by IoU: returns, for each face, the index of its track in ``candidates`` or -1."""
        pairs = []
        for ti, track in enumerate(candidates):
            predicted = track.predict(frame_number)
            for fi, face in enumerate(faces):
                overlap = iou(predicted, face.box)
                if overlap >= self.min_iou:
                    pairs.append((overlap, ti, fi))
        pairs.sort(reverse=True)
        taken_tracks: set[int] = set()
        owner = [-1] * len(faces)
        for _, ti, fi in pairs:
            if ti in taken_tracks or owner[fi] != -1:
                continue
            owner[fi] = ti
            taken_tracks.add(ti)
        return owner

    def _walk_back(self, face: FrameFace, floor_frame: int) -> list[FrameFace]:
        """The same face in the frames before ``face``, down to (not including) ``floor_frame``, in order."""
        found: list[FrameFace] = []
        box, frame = face.box, face.frame_number - 1
        while frame > floor_frame:
            match = self._best_match(box, self._detect_between(frame))
            if match is None:
                break
            found.append(match)
            box, frame = match.box, frame - 1
        found.reverse()
        return found

    def _extend_back(self, track: Track, floor_frame: int) -> None:
        track.faces[:0] = self._walk_back(track.first, floor_frame)

    def _extend_forward(self, track: Track, ceiling_frame: int) -> None:
        frame = track.last.frame_number + 1
        while frame < ceiling_frame:
            match = self._best_match(track.predict(frame), self._detect_between(frame))
            if match is None:
                return
            track.faces.append(match)
            frame += 1

    def _best_match(self, box: Box, faces: Sequence[FrameFace]) -> FrameFace | None:
        """The unclaimed face overlapping ``box`` most (claimed for the caller's track), or None."""
        best, best_iou = None, self.min_iou
        for face in faces:
            if (face.frame_number, face.idx) in self._claimed:
                continue
            overlap = iou(box, face.box)
            if overlap >= best_iou:
                best, best_iou = face, overlap
        if best is not None:
            self._claimed.add((best.frame_number, best.idx))
        return best

    def cut(self, frame_number: int) -> None:
        """A shot cut right before ``frame_number``: every track ends in the frames before it."""
        for track in self._open:
            self._extend_forward(track, frame_number)
        self._open, self._paused = [], []
        self._floor = frame_number - 1

    def keyframe(self, frame_number: int, faces: Sequence[FrameFace]) -> None:
        """Feed the detections of one keyframe (keyframes in increasing order)."""
        previous_key = max(frame_number - self.stride, self._floor)
        # tracks paused too long are done
        self._paused = [t for t in self._paused if frame_number - t.last.frame_number <= self.max_gap_frames]
        candidates = self._open + self._paused
        owner = self._associate(candidates, faces, frame_number)
        matched_tracks: set[int] = set()
        for fi, ti in enumerate(owner):
            if ti >= 0:
                track = candidates[ti]
                if frame_number - track.last.frame_number > self.stride:
                    # resuming after a miss: recover what the frames since the previous keyframe show
                    floor_frame = max(previous_key, track.last.frame_number)
                    track.faces.extend(self._walk_back(faces[fi], floor_frame))
                track.faces.append(faces[fi])
                matched_tracks.add(id(track))
        new_tracks = []
        for fi, ti in enumerate(owner):
            if ti < 0:
                new_tracks.append(self._new_track(faces[fi]))
        missed = [t for t in self._open if id(t) not in matched_tracks]
        for track in missed:
            # its last keyframe was the previous one: the frames since are still at hand
            self._extend_forward(track, frame_number)
        resumed = [t for t in self._paused if id(t) in matched_tracks]
        self._paused = [t for t in self._paused if id(t) not in matched_tracks] + missed
        self._open = [t for t in self._open if id(t) in matched_tracks] + resumed + new_tracks
        for track in new_tracks:
            self._extend_back(track, previous_key)

    def finish(self, last_frame: int) -> list[Track]:
        """Close every track at the end of the media (``last_frame`` = the last decoded frame)."""
        for track in self._open:
            self._extend_forward(track, last_frame + 1)
        for track in self.tracks:
            track.closed = True
        self._open, self._paused = [], []
        return self.tracks
