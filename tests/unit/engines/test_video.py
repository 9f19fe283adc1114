"""Pan-and-zoom videos: decodable H.264 MP4 of the asked duration and size."""

from __future__ import annotations

import io

import av
import pytest

from likeness.engines.base import EngineError, EngineImage, EngineRequest, Operation
from tests.unit.engines.conftest import shrunk_png


def video(engine, **params):
    image = EngineImage(shrunk_png("obama.jpg", 640), "the photo")
    return engine.run(EngineRequest(Operation.VIDEO, base_image=image, params=params))


def test_video_is_a_playable_mp4_of_the_asked_duration_and_size(engine) -> None:
    [out] = video(engine, duration=2, fps=12, size=320, aspect_ratio="1:1")
    assert out.kind == "video" and out.content_type == "video/mp4"
    assert (out.width, out.height) == (320, 320)
    assert out.duration_seconds is not None and abs(out.duration_seconds - 2) <= 1 / 12
    assert out.shows_person and out.details["focus"] == "face"
    assert out.data[4:8] == b"ftyp"
    with av.open(io.BytesIO(out.data), mode="r") as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = [f for f in container.decode(video=0)]
        assert (frames[0].width, frames[0].height) == (320, 320)
        assert frames[0].format.name == "yuv420p"
        assert container.duration is not None
        duration = container.duration / av.time_base
    assert abs(len(frames) / 12 - 2) <= 1 / 12
    assert abs(duration - 2) <= 1 / 12
    # the camera moves: the last frame is not the first
    first, last = frames[0].to_ndarray(format="rgb24"), frames[-1].to_ndarray(format="rgb24")
    assert abs(first.astype(int) - last.astype(int)).mean() > 5


def test_image_output_params_left_in_shared_defaults_are_ignored(engine) -> None:
    [out] = video(engine, duration=1, fps=12, size=256, format="png", background="#ffffff")
    assert out.content_type == "video/mp4"
    assert out.details["ignored_params"] == ["background", "format"]


def test_middle_frame_still_shows_the_face(engine, judge, embeddings) -> None:
    [out] = video(engine, duration=1, fps=12, size=256)
    with av.open(io.BytesIO(out.data), mode="r") as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    report = judge.judge(frames[len(frames) // 2], [embeddings["obama.jpg"]], mode="same_person")
    assert report.faces_found == 1 and report.verdict.value == "passed"


@pytest.mark.parametrize(
    "params, name",
    [
        ({"duration": 0.5}, "duration"),
        ({"duration": 11}, "duration"),
        ({"fps": 60}, "fps"),
        ({"size": 4000}, "size"),
        ({"format": "gif"}, "format"),
    ],
)
def test_out_of_range_params_fail(engine, params, name) -> None:
    with pytest.raises(EngineError) as err:
        video(engine, **params)
    assert err.value.code == "invalid_parameter" and name in err.value.reason
