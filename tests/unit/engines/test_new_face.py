"""New faces: morphs of 2+ references, several outputs with their own weights."""

from __future__ import annotations

import pytest

from likeness.engines.base import EngineError, EngineRequest, Operation
from likeness.engines.classical.engine import blend_weights
from likeness.engines.consistency import Verdict
from tests.unit.engines.conftest import engine_image


def new_faces(engine, names, **params):
    params.setdefault("size", 384)
    request = EngineRequest(
        Operation.NEW_FACE, face_images=tuple(engine_image(n) for n in names), params=params
    )
    return engine.run(request)


@pytest.mark.parametrize(
    "names, count",
    [
        (["obama.jpg", "biden.jpg"], 3),
        (["rose_leslie_img1.jpg", "alex-lacamoire.png", "lin-manuel-miranda.png"], 2),
    ],
)
def test_count_distinct_new_faces_each_with_one_face_and_not_a_copy(
    engine, judge, embeddings, decode, names, count
) -> None:
    outputs = new_faces(engine, names, count=count, seed=11)
    assert len(outputs) == count
    weights = [tuple(o.details["weights"]) for o in outputs]
    assert len(set(weights)) == count, "each output has its own blend weights"
    assert len({o.data for o in outputs}) == count
    for out in outputs:
        assert out.details["seed"] == 11 and abs(sum(out.details["weights"]) - 1) < 1e-6
        assert out.face_sources == tuple(range(len(names)))
        assert (out.width, out.height) == (307, 384)  # 4:5 by default
        assert decode(out.data).shape == (384, 307, 3)
        report = judge.judge(out.data, [embeddings[n] for n in names], mode="new_person")
        assert report.faces_found == 1
        assert not report.near_copy, report.reason
        assert report.verdict is Verdict.PASSED, report.reason


def test_one_reference_is_not_enough(engine) -> None:
    with pytest.raises(EngineError) as err:
        new_faces(engine, ["obama.jpg"])
    assert err.value.code == "missing_input"
    assert err.value.missing == "at least 2 reference faces"
    assert "at least 2 reference faces" in err.value.reason


def test_same_seed_same_faces_other_seed_other_weights(engine) -> None:
    a = new_faces(engine, ["obama.jpg", "biden.jpg"], seed=5)
    b = new_faces(engine, ["obama.jpg", "biden.jpg"], seed=5)
    c = new_faces(engine, ["obama.jpg", "biden.jpg"], seed=6)
    assert a[0].data == b[0].data
    assert a[0].details["weights"] != c[0].details["weights"]


def test_string_seeds_are_accepted_and_reported(engine) -> None:
    a = new_faces(engine, ["obama.jpg", "biden.jpg"], seed="3f9a0c1d22e4b7aa")
    b = new_faces(engine, ["obama.jpg", "biden.jpg"], seed="3f9a0c1d22e4b7aa")
    assert a[0].details["seed"] == "3f9a0c1d22e4b7aa" and a[0].data == b[0].data
    with pytest.raises(EngineError) as err:
        new_faces(engine, ["obama.jpg", "biden.jpg"], seed=-1)
    assert err.value.code == "invalid_parameter" and "seed" in err.value.reason


def test_explicit_weights_are_used_and_reported(engine) -> None:
    [out] = new_faces(engine, ["obama.jpg", "biden.jpg"], weights=[[3, 1]])
    assert out.details["weights"] == [0.75, 0.25]
    assert out.details["carrier"] == 0
    with pytest.raises(EngineError) as err:
        new_faces(engine, ["obama.jpg", "biden.jpg"], weights=[[1, 1, 1]])
    assert err.value.code == "invalid_parameter" and "weights[0]" in err.value.reason
    with pytest.raises(EngineError) as err:
        new_faces(engine, ["obama.jpg", "biden.jpg"], count=2, weights=[[1, 1]])
    assert "count" in err.value.reason


def test_a_reference_with_two_faces_is_named(engine) -> None:
    with pytest.raises(EngineError) as err:
        new_faces(engine, ["obama.jpg", "two_people.jpg"])
    assert err.value.code == "multiple_faces" and "two_people.jpg" in err.value.reason


def test_count_out_of_range_fails(engine) -> None:
    with pytest.raises(EngineError) as err:
        new_faces(engine, ["obama.jpg", "biden.jpg"], count=9)
    assert err.value.code == "invalid_parameter" and "count" in err.value.reason


@pytest.mark.parametrize("references, count", [(2, 1), (2, 8), (3, 5), (5, 8)])
def test_blend_weights_are_distinct_bounded_and_deterministic(references, count) -> None:
    rows = blend_weights(references, count, seed=42)
    assert rows == blend_weights(references, count, seed=42)
    assert len(rows) == count and len({tuple(r) for r in rows}) == count
    for row in rows:
        assert len(row) == references and abs(sum(row) - 1) < 1e-9
        assert max(row) <= 0.5 + 0.5 / references + 1e-4
        assert min(row) >= 0.5 / references - 1e-4
