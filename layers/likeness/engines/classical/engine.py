"""The classical engine: face transfer, morphs, portraits, upscaling, edits and videos on the CPU.

No generative model: the only models are the face pipeline's detector and descriptor and dlib's
68-point landmark predictor. Each operation's params (unknown keys are ignored, bad values fail
the request with ``code="invalid_parameter"`` naming the param and what is allowed):

Common image output params (face_transfer, new_face, portrait, edit; upscale takes only
``format`` and ``style``, video only ``size``, ``aspect_ratio`` and ``style``; common params an
operation does not use are ignored and listed in the output's ``details.ignored_params``):

- ``format``: ``png`` (default), ``jpeg`` or ``webp``.
- ``size``: longest side in px, 64..4096. Default: the natural size (the base image for
  face_transfer and edit), 1024 for new_face and portrait.
- ``aspect_ratio``: one of 1:1, 3:4, 4:5, 2:3, 9:16, 16:9, 4:3, 3:2. new_face and portrait
  default to 4:5; face_transfer and edit crop to it (centred on the face) only when asked.
- ``background``: hex colour (``#ffffff``); the person is cut out (GrabCut) and put on it.
- ``style``: natural (default), grayscale, warm, cool, bright, dim, high_contrast.

Per operation:

- ``face_transfer``: base_image (exactly one person) + face_images[0] (the identity, exactly
  one face). ``identity_shape`` 0..1 (default 1.0: the identity's face proportions; 0 keeps the
  base face's outline), ``blend`` ``seamless`` (Poisson, default) or ``feather``.
- ``new_face``: face_images[0..n], n >= 2, one face each. ``count`` 1..8 (default 1),
  ``seed`` (0..2**32-1, or any string, which is hashed; default derived from the input bytes),
  ``weights`` (optional list of ``count`` lists, one non-negative number per reference),
  ``framing`` head_and_shoulders (default) or headshot, ``blend``. Without ``weights`` each
  output gets its own weights drawn from the seed, no reference above 0.5 + 0.5/n, spread apart
  so outputs differ; ``details`` reports them.
- ``portrait``: face_images[0], one face. ``framing`` as above.
- ``upscale``: base_image (or face_images[0]). ``factor`` 2 (default) or 4; the output's longer
  side may not exceed 4096 px.
- ``edit``: base_image (or face_images[0]). ``instructions``: list of ``{"op": ...}`` (see
  ``edits``); or ``prompt`` made only of the documented keywords.
- ``video``: base_image (or face_images[0]). ``duration`` 1..10 s (default 5), ``fps`` 12..30
  (default 24), ``size`` longest side 64..1920 (default 720), ``aspect_ratio`` (default: the
  listed ratio closest to the image's), ``zoom`` 1.0..2.0 (default 1.3), ``style``. H.264 MP4.
- ``try_on``: base_image (exactly one person) + garment_images (1..6 flat-lays on a plain
  background or cut-outs with alpha; see ``garments`` and ``tryon``) + optionally
  face_images[0] (a face transferred onto the person, ``identity_shape`` and ``blend`` as for
  face_transfer). ``camera``: photo (default: the photo's framing, grown where a garment
  reaches past it), upper_body_front (head to hip, default 4:5), full_body_front (head to
  feet, default 9:16), full_body_back (the garments' back images alone at the person's scale;
  no person). ``garment_backs``: {front index: back index} naming which garment images are
  the backs of others (backs are only used by the back camera; a front without a back stands
  in for it). ``count`` 1..5 (default 1): outputs with slightly different placement, drawn
  from ``seed``. ``size`` defaults to the framed photo's own scale, at most 2048 px.

For edit the common params apply after the instructions. Outputs: ``shows_person`` is True when
the output shows a face; ``face_sources`` is (0,) for face_transfer and portrait, the blended
references for new_face, and for upscale / edit / video (0,) only when the image came from
face_images[0] and shows a face (a base_image has no reference embedding to judge against).
try_on shows the base person ((0,) when face_images[0] was transferred onto them, else ());
its back view shows no person.

Errors: ``missing_input`` (an image the operation needs was not sent), ``input_rejected`` (an
image could not be decoded), ``no_face`` / ``multiple_faces`` / ``face_cut_off`` /
``face_too_small`` (a face rule failed; the reason names the image by its label),
``invalid_parameter``, ``unsupported_instruction``, ``prompt_not_supported``,
``output_too_large``, ``unsupported_operation``, ``garment_not_found`` (a garment image shows
nothing that separates from its background). A model that cannot load raises
``likeness.errors.ModelUnavailable`` (a server problem, not the request's).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from likeness.engines.base import (
    EngineCapabilities,
    EngineError,
    EngineImage,
    EngineOutput,
    EngineRequest,
    Operation,
)
from likeness.engines.classical.capabilities import (
    ASPECT_RATIOS,
    BLEND_MODES,
    CLASSICAL_CAPABILITIES,
    DEFAULT_FPS,
    FRAMINGS,
    MAX_GARMENT_IMAGES,
    MAX_NEW_FACE_COUNT,
    MAX_OUTPUT_SIDE,
    MAX_REFERENCE_IMAGES,
    MAX_TRY_ON_COUNT,
    MAX_VIDEO_FPS,
    MAX_VIDEO_SIDE,
    MIN_VIDEO_FPS,
    OUTPUT_FORMATS,
    TRY_ON_CAMERAS,
    UPSCALE_FACTORS,
    VIDEO_MAX_SECONDS,
    VIDEO_MIN_SECONDS,
)
from likeness.engines.classical.edits import Canvas, Instruction, apply_instructions, instructions_from_prompt
from likeness.engines.classical.edits import parse_instructions as parse_edit_instructions
from likeness.engines.classical.garments import GarmentAnalysis, analyze_garment
from likeness.engines.classical.imaging import (
    apply_style,
    crop_to_aspect,
    encode_image,
    even_dimensions,
    frame_face,
    output_dimensions,
    resize_longest,
    unsharp,
)
from likeness.engines.classical.landmarks import LandmarkPredictor, get_default_predictor
from likeness.engines.classical.morph import morph_faces
from likeness.engines.classical.params import (
    OutputOptions,
    invalid,
    parse_aspect_ratio,
    parse_choice,
    parse_float,
    parse_int,
    parse_output_options,
    with_request_fields,
)
from likeness.engines.classical.segmentation import composite_on_colour, segment_subject
from likeness.engines.classical.transfer import transfer_face
from likeness.engines.classical.tryon import (
    CAMERA_ASPECTS,
    LAYER_ORDER,
    Placement,
    camera_window,
    jitter_for,
    lighting,
    person_from_landmarks,
    place_garment,
    render,
)
from likeness.engines.classical.video import encode_mp4, ken_burns_frames, ken_burns_windows
from likeness.errors import FaceRejected, LikenessError, ModelUnavailable
from likeness.faces.pipeline import FacePipeline, get_default_pipeline
from likeness.faces.types import DetectedFace, FaceAnalysis

__all__ = ["ClassicalEngine", "blend_weights"]

Box = tuple[float, float, float, float]

DEFAULT_PORTRAIT_SIZE = 1024
DEFAULT_PORTRAIT_ASPECT = "4:5"
DEFAULT_VIDEO_SIZE = 720
DEFAULT_TRY_ON_MAX_SIDE = 2048  # without ``size`` a try-on keeps the photo's scale up to this
_TURNED_CAMERAS = {"side", "side_left", "side_right", "profile"}  # views the engine cannot make
_WEIGHT_POOL = 64  # candidate weight vectors drawn per request; outputs take the most spread-out ones


def blend_weights(references: int, count: int, seed: int) -> list[list[float]]:
    """``count`` distinct weight vectors over ``references`` faces, deterministic for ``seed``.

    Half of every vector is spread evenly, so no reference gets more than 0.5 + 0.5/n (0.75
    for two): at 0.8 the morph came 0.18-0.36 from its main reference on the fixtures, at the
    0.2 "near copy" line. Outputs are picked from a pool by farthest-point sampling, so they
    differ as much as the pool allows.
    """
    rng = np.random.default_rng(seed)
    pool = 0.5 / references + 0.5 * rng.dirichlet(np.full(references, 1.5), size=max(_WEIGHT_POOL, count * 8))
    chosen = [0]
    nearest = np.abs(pool - pool[0]).sum(axis=1)
    while len(chosen) < count:
        pick = int(np.argmax(nearest))
        chosen.append(pick)
        nearest = np.minimum(nearest, np.abs(pool - pool[pick]).sum(axis=1))
    out = []
    for i in chosen:
        w = np.round(pool[i], 4)
        w[-1] = round(1.0 - float(w[:-1].sum()), 4)  # sums to exactly 1 after rounding
        out.append([float(v) for v in w])
    return out


def _closest_aspect(width: int, height: int) -> tuple[int, int]:
    ratio = math.log(width / height)
    best = min(
        ASPECT_RATIOS, key=lambda a: abs(math.log(int(a.split(":")[0]) / int(a.split(":")[1])) - ratio)
    )
    return parse_aspect_ratio(best)


def _not_applicable(params: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    """Common params this operation does not use: ignored (the base contract), but listed in
    the output's details so nobody wonders why a background was not replaced."""
    return [name for name in names if params.get(name) is not None]


def _seed(params: Mapping[str, Any], refs: Sequence[EngineImage]) -> tuple[int, int | str]:
    """(generator seed, the seed as reported). A string seed is hashed; no seed derives one
    from the input bytes, so the same request always gives the same faces."""
    value = params.get("seed")
    if isinstance(value, str) and value.strip():
        return int.from_bytes(hashlib.sha256(value.encode()).digest()[:4], "big"), value
    if value is not None:
        number = parse_int(params, "seed", None, minimum=0, maximum=2**32 - 1)
        assert number is not None
        return number, number
    digest = hashlib.sha256()
    for image in refs:
        digest.update(hashlib.sha256(image.data).digest())
    derived = int.from_bytes(digest.digest()[:4], "big")
    return derived, derived


def _the(label: str) -> str:
    return label if label.lower().startswith("the ") else f"the {label}"


@dataclass(frozen=True)
class _Input:
    image: EngineImage
    analysis: FaceAnalysis
    from_face_images: bool  # the op fell back to face_images[0] (its person can be judged)

    @property
    def pixels(self) -> np.ndarray:
        return self.analysis.pixels


class ClassicalEngine:
    """Implements ``likeness.engines.base.Engine``. Thread-safe: models are shared, state is per call."""

    def __init__(
        self,
        *,
        pipeline: Callable[[], FacePipeline] = get_default_pipeline,
        landmarks: Callable[[], LandmarkPredictor] = get_default_predictor,
    ) -> None:
        self._pipeline = pipeline
        self._landmarks = landmarks

    @property
    def capabilities(self) -> EngineCapabilities:
        return CLASSICAL_CAPABILITIES

    def warm_up(self) -> None:
        """Load every model now (a container's init phase) instead of on the first request."""
        self._pipeline().warm_up()
        self._landmarks().load()

    def run(self, request: EngineRequest) -> list[EngineOutput]:
        handlers: dict[Operation, Callable[[EngineRequest], list[EngineOutput]]] = {
            Operation.FACE_TRANSFER: self._face_transfer,
            Operation.NEW_FACE: self._new_face,
            Operation.PORTRAIT: self._portrait,
            Operation.UPSCALE: self._upscale,
            Operation.EDIT: self._edit,
            Operation.VIDEO: self._video,
            Operation.TRY_ON: self._try_on,
            Operation.SCENE: self._scene,
        }
        handler = handlers.get(request.operation)
        if handler is None:
            raise EngineError(
                f"the classical engine cannot do {request.operation!r}; it does "
                f"{', '.join(op.value for op in handlers)}",
                code="unsupported_operation",
            )
        if len(request.face_images) > MAX_REFERENCE_IMAGES:
            raise invalid(
                f"at most {MAX_REFERENCE_IMAGES} face images per request; got {len(request.face_images)}"
            )
        if not isinstance(request.params, Mapping):
            raise invalid("params must be an object")
        return handler(replace(request, params=with_request_fields(request)))

    # inputs

    def _analyze(self, image: EngineImage) -> FaceAnalysis:
        try:
            return self._pipeline().analyze(image.data)
        except ModelUnavailable:
            raise  # a server problem, not the caller's: the runner may retry
        except LikenessError as exc:
            raise EngineError(
                f"{_the(image.label)} could not be used: {exc.message}", code="input_rejected"
            ) from exc

    def _one_face(self, analysis: FaceAnalysis, label: str, purpose: str) -> DetectedFace:
        try:
            return self._pipeline().require_one_face(analysis)
        except FaceRejected as exc:
            reason = str(exc.extra.get("reason", "no_face"))
            count = int(exc.extra.get("face_count", 0))
            who = _the(label)
            messages = {
                "no_face": f"{who} shows no face; {purpose} needs one clearly visible face",
                "multiple_faces": f"{who} shows {count} faces; {purpose} needs exactly one",
                "face_cut_off": f"the face in {who} is cut off at the edge; {purpose} needs the whole face",
                "face_too_small": f"the face in {who} is too small; {exc.message}",
            }
            raise EngineError(
                messages.get(reason, f"{who}: {exc.message}"), code=reason, missing=None
            ) from exc

    def _source(self, request: EngineRequest, what: str) -> _Input:
        """base_image, or face_images[0] when no base image was sent."""
        if request.base_image is not None:
            return _Input(request.base_image, self._analyze(request.base_image), from_face_images=False)
        if request.face_images:
            first = request.face_images[0]
            return _Input(first, self._analyze(first), from_face_images=True)
        raise EngineError(f"{what} needs an image (base_image)", code="missing_input", missing="base_image")

    def _confident_faces(self, analysis: FaceAnalysis) -> list[DetectedFace]:
        floor = self._pipeline().min_face_score
        return [f for f in analysis.faces if f.score >= floor]

    # output

    def _finish(
        self,
        rgb: np.ndarray,
        face_box: Box | None,
        options: OutputOptions,
        *,
        reframe: bool,
        alpha: np.ndarray | None = None,
    ) -> tuple[bytes, int, int]:
        """Aspect crop and resize (when ``reframe``), background, style, encode."""
        if reframe and options.aspect_ratio is not None:
            centre = (
                ((face_box[0] + face_box[2]) / 2.0, (face_box[1] + face_box[3]) / 2.0) if face_box else None
            )
            rgb, (x, y) = crop_to_aspect(rgb, options.aspect_ratio, centre)
            if alpha is not None:
                alpha = alpha[y : y + rgb.shape[0], x : x + rgb.shape[1]]
            if face_box is not None:
                face_box = (face_box[0] - x, face_box[1] - y, face_box[2] - x, face_box[3] - y)
        if reframe and options.size is not None and max(rgb.shape[:2]) != options.size:
            scale = options.size / max(rgb.shape[:2])
            # with an aspect ratio, land on exactly the dimensions a portrait of it gets
            exact = output_dimensions(options.aspect_ratio, options.size) if options.aspect_ratio else None
            rgb = resize_longest(rgb, options.size, exact)
            if alpha is not None:
                alpha = resize_longest(alpha, options.size, exact)
            if face_box is not None:
                face_box = (
                    face_box[0] * scale,
                    face_box[1] * scale,
                    face_box[2] * scale,
                    face_box[3] * scale,
                )
        if options.background is not None:
            cut = alpha if alpha is not None else segment_subject(rgb, face_box)
            rgb, alpha = composite_on_colour(rgb, cut, options.background), None
        rgb = apply_style(rgb, options.style)
        if alpha is not None and options.format == "jpeg":
            raise invalid(
                "the output has a transparent background, which JPEG cannot hold; use format png or webp"
            )
        data = encode_image(rgb, options.format, alpha)
        return data, int(rgb.shape[1]), int(rgb.shape[0])

    @staticmethod
    def _face_box_from_landmarks(landmarks: np.ndarray) -> Box:
        """A detector-like box (hairline to chin) around 68 landmarks, to seed segmentation."""
        x1, y1 = landmarks.min(axis=0)
        x2, y2 = landmarks.max(axis=0)
        rise = (y2 - y1) * 0.35  # the 68 points stop at the brows
        return float(x1), float(y1 - rise), float(x2), float(y2)

    def _portrait_size(self, options: OutputOptions) -> tuple[int, int]:
        aspect = options.aspect_ratio or parse_aspect_ratio(DEFAULT_PORTRAIT_ASPECT)
        return output_dimensions(aspect, options.size or DEFAULT_PORTRAIT_SIZE)

    # operations

    def _face_transfer(self, request: EngineRequest) -> list[EngineOutput]:
        params = request.params
        if request.base_image is None:
            raise EngineError(
                "face transfer needs a base image showing one person (base_image)",
                code="missing_input",
                missing="base_image",
            )
        if not request.face_images:
            raise EngineError(
                "face transfer needs the identity's face (face_images[0])",
                code="missing_input",
                missing="an identity face (face_images[0])",
            )
        identity_shape = parse_float(params, "identity_shape", 1.0, minimum=0.0, maximum=1.0)
        blend = parse_choice(params, "blend", BLEND_MODES, "seamless")
        options = parse_output_options(params)

        base = self._analyze(request.base_image)
        base_face = self._one_face(base, request.base_image.label, "face transfer")
        identity_image = request.face_images[0]
        identity = self._analyze(identity_image)
        identity_face = self._one_face(identity, identity_image.label, "face transfer")
        predictor = self._landmarks()
        result = transfer_face(
            base.pixels,
            predictor.predict(base.pixels, base_face),
            identity.pixels,
            predictor.predict(identity.pixels, identity_face),
            identity_shape=identity_shape if identity_shape is not None else 1.0,
            blend=blend,
        )
        image = result.image
        if options.size is None and max(image.shape[:2]) > MAX_OUTPUT_SIDE:
            options = replace(options, size=MAX_OUTPUT_SIDE)
        data, width, height = self._finish(image, base_face.box, options, reframe=True)
        return [
            EngineOutput(
                data=data,
                content_type=options.content_type,
                width=width,
                height=height,
                shows_person=True,
                face_sources=(0,),
                details={
                    "operation": Operation.FACE_TRANSFER.value,
                    "identity_shape": identity_shape,
                    "blend": blend,
                    "base_face_box": [round(v, 1) for v in base_face.box],
                    "output": options.to_dict(),
                },
            )
        ]

    def _parse_weights(
        self, params: Mapping[str, Any], references: int, count: int | None
    ) -> list[list[float]] | None:
        raw = params.get("weights")
        if raw is None:
            return None
        if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
            raise invalid("weights must be a list with one list of per-reference weights per output")
        # one flat list is one output's weights
        rows = (
            [raw] if all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw) else list(raw)
        )
        if count is not None and len(rows) != count:
            raise invalid(f"weights has {len(rows)} rows but count is {count}; send one row per output")
        if len(rows) > MAX_NEW_FACE_COUNT:
            raise invalid(f"weights may describe at most {MAX_NEW_FACE_COUNT} outputs; got {len(rows)}")
        out = []
        for i, row in enumerate(rows):
            ok = (
                isinstance(row, Sequence)
                and not isinstance(row, str)
                and len(row) == references
                and all(
                    isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in row
                )
            )
            if not ok:
                raise invalid(f"weights[{i}] must hold {references} numbers, one per reference face")
            if any(v < 0 for v in row) or sum(row) <= 0:
                raise invalid(f"weights[{i}] must be non-negative with a positive sum")
            total = float(sum(row))
            out.append([round(float(v) / total, 4) for v in row])
        return out

    def _new_face(self, request: EngineRequest) -> list[EngineOutput]:
        params = request.params
        refs = request.face_images
        if len(refs) < 2:
            raise EngineError(
                f"a new face is morphed from at least 2 reference faces; the request has {len(refs)}",
                code="missing_input",
                missing="at least 2 reference faces",
            )
        count = parse_int(params, "count", None, minimum=1, maximum=MAX_NEW_FACE_COUNT)
        framing = parse_choice(params, "framing", FRAMINGS, "head_and_shoulders")
        blend = parse_choice(params, "blend", BLEND_MODES, "seamless")
        options = parse_output_options(params)
        weights = self._parse_weights(params, len(refs), count)
        seed, seed_reported = _seed(params, refs)
        if weights is None:
            weights = blend_weights(len(refs), count or 1, seed)

        predictor = self._landmarks()
        faces: list[tuple[np.ndarray, np.ndarray]] = []
        for image in refs:
            analysis = self._analyze(image)
            face = self._one_face(analysis, image.label, "a new face")
            faces.append((analysis.pixels, predictor.predict(analysis.pixels, face)))

        size = self._portrait_size(options)
        aspect_label = options.to_dict()["aspect_ratio"] or DEFAULT_PORTRAIT_ASPECT
        outputs = []
        for index, row in enumerate(weights):
            used = [i for i, w in enumerate(row) if w > 0]
            if len(used) == 1:
                # one reference at full weight is that person, not a new face
                raise invalid(
                    f"weights[{index}] gives all weight to one reference; a new face blends at least two"
                )
            morph = morph_faces([faces[i] for i in used], [row[i] for i in used], blend=blend)
            framed = frame_face(morph.image, morph.landmarks, framing=framing, size=size)
            data, width, height = self._finish(
                framed.image, self._face_box_from_landmarks(framed.landmarks), options, reframe=False
            )
            outputs.append(
                EngineOutput(
                    data=data,
                    content_type=options.content_type,
                    width=width,
                    height=height,
                    shows_person=True,
                    face_sources=tuple(used),
                    details={
                        "operation": Operation.NEW_FACE.value,
                        "index": index,
                        "weights": row,
                        "seed": seed_reported,
                        "carrier": used[morph.carrier],
                        "framing": framing,
                        "blend": blend,
                        "padded": framed.padded,
                        "output": {**options.to_dict(), "size": max(size), "aspect_ratio": aspect_label},
                    },
                )
            )
        return outputs

    def _portrait(self, request: EngineRequest) -> list[EngineOutput]:
        if not request.face_images:
            raise EngineError(
                "a portrait needs the person's photo (face_images[0])",
                code="missing_input",
                missing="a face image (face_images[0])",
            )
        params = request.params
        framing = parse_choice(params, "framing", FRAMINGS, "head_and_shoulders")
        options = parse_output_options(params)
        image = request.face_images[0]
        analysis = self._analyze(image)
        face = self._one_face(analysis, image.label, "a portrait")
        landmarks = self._landmarks().predict(analysis.pixels, face)
        size = self._portrait_size(options)
        framed = frame_face(analysis.pixels, landmarks, framing=framing, size=size)
        data, width, height = self._finish(
            framed.image, self._face_box_from_landmarks(framed.landmarks), options, reframe=False
        )
        return [
            EngineOutput(
                data=data,
                content_type=options.content_type,
                width=width,
                height=height,
                shows_person=True,
                face_sources=(0,),
                details={
                    "operation": Operation.PORTRAIT.value,
                    "framing": framing,
                    "padded": framed.padded,
                    "output": options.to_dict(),
                },
            )
        ]

    def _scene(self, request: EngineRequest) -> list[EngineOutput]:
        """The photo's setting without its person: GrabCut seeded from the face finds the
        person, and OpenCV's Telea inpainting fills where they stood from the surroundings."""
        import cv2

        options = parse_output_options(request.params)
        source = self._source(request, "a scene plate")
        face = self._one_face(source.analysis, source.image.label, "a scene plate")
        person = segment_subject(source.pixels, face.box)
        h, w = source.pixels.shape[:2]
        # a margin around the cut, so no outline of the person survives the fill
        grow = max(3, round(max(h, w) / 60)) | 1
        mask = cv2.dilate((person > 64).astype(np.uint8) * 255, np.ones((grow, grow), np.uint8))
        filled = cv2.inpaint(source.pixels, mask, max(3, grow // 2), cv2.INPAINT_TELEA)
        data, width, height = self._finish(filled, None, options, reframe=True)
        return [
            EngineOutput(
                data=data,
                content_type=options.content_type,
                width=width,
                height=height,
                shows_person=False,
                details={
                    "operation": Operation.SCENE.value,
                    "removed_fraction": round(float((mask > 0).mean()), 3),
                    "notes": ["the person is removed and the gap filled from its surroundings (inpainting)"],
                    "output": options.to_dict(),
                },
            )
        ]

    def _upscale(self, request: EngineRequest) -> list[EngineOutput]:
        params = request.params
        factor = params.get("factor", 2)
        if isinstance(factor, bool) or factor not in UPSCALE_FACTORS:
            raise invalid(f"factor must be {' or '.join(str(f) for f in UPSCALE_FACTORS)}; got {factor!r}")
        factor = int(factor)
        ignored = _not_applicable(params, ("size", "aspect_ratio", "background", "framing"))
        options = parse_output_options({k: params[k] for k in ("format", "style") if k in params})
        source = self._source(request, "upscaling")
        h, w = source.pixels.shape[:2]
        if max(h, w) * factor > MAX_OUTPUT_SIDE:
            raise EngineError(
                f"upscaling {_the(source.image.label)} ({w}x{h}) by {factor} would give "
                f"{w * factor}x{h * factor}; outputs are limited to {MAX_OUTPUT_SIDE} px on the longer side "
                f"(at most {MAX_OUTPUT_SIDE // factor} px before a {factor}x upscale)",
                code="output_too_large",
            )
        import cv2

        enlarged = cv2.resize(source.pixels, (w * factor, h * factor), interpolation=cv2.INTER_LANCZOS4)
        # Lanczos leaves edges soft at 2-4x; a mild unsharp mask at the enlarged scale restores contrast
        enlarged = unsharp(enlarged, sigma=0.6 * factor, amount=0.5)
        shows_person = bool(self._confident_faces(source.analysis))
        data, width, height = self._finish(enlarged, None, options, reframe=False)
        return [
            EngineOutput(
                data=data,
                content_type=options.content_type,
                width=width,
                height=height,
                shows_person=shows_person,
                face_sources=(0,) if shows_person and source.from_face_images else (),
                details={
                    "operation": Operation.UPSCALE.value,
                    "factor": factor,
                    "method": "lanczos4+unsharp",
                    "output": options.to_dict(),
                    **({"ignored_params": ignored} if ignored else {}),
                },
            )
        ]

    def _edit(self, request: EngineRequest) -> list[EngineOutput]:
        params = request.params
        keywords: list[str] | None = None
        instructions: list[Instruction]
        if params.get("instructions") is not None:
            instructions = parse_edit_instructions(params["instructions"])
        elif isinstance(params.get("prompt"), str) and params["prompt"].strip():
            instructions, keywords = instructions_from_prompt(params["prompt"])
        else:
            raise EngineError(
                'an edit needs params.instructions: a list of {"op": ...} objects',
                code="missing_input",
                missing="params.instructions",
            )
        options = parse_output_options(params)
        transparent = False
        for instruction in instructions:
            transparent = {"remove_background": True, "replace_background": False}.get(
                instruction.op, transparent
            )
        if transparent and options.format == "jpeg" and options.background is None:
            raise invalid(
                "remove_background makes a transparent image, which JPEG cannot hold; use format png or webp"
            )

        source = self._source(request, "an edit")
        faces = self._confident_faces(source.analysis)
        canvas = apply_instructions(
            Canvas(source.pixels, None, faces[0].box if faces else None), instructions
        )
        data, width, height = self._finish(
            canvas.rgb, canvas.face_box, options, reframe=True, alpha=canvas.alpha
        )
        # judge what the output shows, after crops and rotations
        pipeline = self._pipeline()
        shows_person = bool(faces) and any(
            f.score >= pipeline.min_face_score
            for f in pipeline.detector.detect(np.ascontiguousarray(canvas.rgb))
        )
        details: dict[str, Any] = {
            "operation": Operation.EDIT.value,
            "instructions": [i.to_dict() for i in instructions],
            "output": options.to_dict(),
        }
        if keywords is not None:
            details["prompt_keywords"] = keywords
        return [
            EngineOutput(
                data=data,
                content_type=options.content_type,
                width=width,
                height=height,
                shows_person=shows_person,
                face_sources=(0,) if shows_person and source.from_face_images else (),
                details=details,
            )
        ]

    def _video(self, request: EngineRequest) -> list[EngineOutput]:
        params = request.params
        duration = parse_float(params, "duration", 5.0, minimum=VIDEO_MIN_SECONDS, maximum=VIDEO_MAX_SECONDS)
        fps = parse_int(params, "fps", DEFAULT_FPS, minimum=MIN_VIDEO_FPS, maximum=MAX_VIDEO_FPS)
        zoom = parse_float(params, "zoom", 1.3, minimum=1.0, maximum=2.0)
        ignored = _not_applicable(params, ("background", "framing"))
        video_format = params.get("format")
        if isinstance(video_format, str) and video_format.lower() in (*OUTPUT_FORMATS, "jpg"):
            ignored.append("format")  # an image format left in shared defaults
        elif video_format not in (None, "mp4"):
            raise invalid(f"format must be mp4 for a video; got {video_format!r}")
        options = parse_output_options(
            {k: v for k, v in params.items() if k != "format"},
            default_size=DEFAULT_VIDEO_SIZE,
            max_side=MAX_VIDEO_SIDE,
        )
        assert duration is not None and fps is not None and zoom is not None and options.size is not None
        source = self._source(request, "a video")
        h, w = source.pixels.shape[:2]
        aspect = options.aspect_ratio or _closest_aspect(w, h)
        size = even_dimensions(*output_dimensions(aspect, options.size))
        faces = self._confident_faces(source.analysis)
        focus = faces[0].center if faces else None
        frames = max(1, round(duration * fps))
        windows = ken_burns_windows(w, h, aspect, focus, zoom, frames)
        image = apply_style(source.pixels, options.style)
        data, written = encode_mp4(ken_burns_frames(image, windows, size), size, fps)
        shows_person = bool(faces)
        return [
            EngineOutput(
                data=data,
                content_type="video/mp4",
                width=size[0],
                height=size[1],
                kind="video",
                duration_seconds=written / fps,
                shows_person=shows_person,
                face_sources=(0,) if shows_person and source.from_face_images else (),
                details={
                    "operation": Operation.VIDEO.value,
                    "fps": fps,
                    "frames": written,
                    "zoom": zoom,
                    "focus": "face" if focus else "centre",
                    "aspect_ratio": f"{aspect[0]}:{aspect[1]}",
                    "codec": "h264",
                    "style": options.style,
                    **({"ignored_params": ignored} if ignored else {}),
                },
            )
        ]

    # try-on

    def _garment(self, image: EngineImage, cache: dict[bytes, GarmentAnalysis]) -> GarmentAnalysis:
        key = hashlib.sha256(image.data).digest()
        if key not in cache:
            cache[key] = analyze_garment(image.data, label=_the(image.label))
        found = cache[key]
        return found if found.label == _the(image.label) else replace(found, label=_the(image.label))

    def _try_on(self, request: EngineRequest) -> list[EngineOutput]:
        params = request.params
        if request.base_image is None:
            raise EngineError(
                "try-on needs a photo of the person to dress (base_image)",
                code="missing_input",
                missing="base_image",
            )
        garments = request.garment_images
        if not garments:
            raise EngineError(
                "try-on needs at least one garment image (garment_images)",
                code="missing_input",
                missing="garment_images",
            )
        if len(garments) > MAX_GARMENT_IMAGES:
            raise invalid(
                f"at most {MAX_GARMENT_IMAGES} garment images (fronts and backs) per try-on; "
                f"got {len(garments)}"
            )
        if isinstance(params.get("camera"), str) and params["camera"].strip().lower() in _TURNED_CAMERAS:
            raise EngineError(
                f"the classical engine cannot show a person from the {params['camera'].strip().lower()}: "
                f"it cannot turn a person; its cameras are {', '.join(TRY_ON_CAMERAS)}",
                code="engine_cannot_do",
            )
        camera = parse_choice(params, "camera", TRY_ON_CAMERAS, "photo")
        count = parse_int(params, "count", 1, minimum=1, maximum=MAX_TRY_ON_COUNT)
        identity_shape = parse_float(params, "identity_shape", 1.0, minimum=0.0, maximum=1.0)
        blend = parse_choice(params, "blend", BLEND_MODES, "seamless")
        backs = _garment_backs(params.get("garment_backs"), len(garments))
        options = parse_output_options(params)
        assert count is not None and identity_shape is not None
        seed, seed_reported = _seed(params, (request.base_image, *garments))
        ignored = _not_applicable(params, ("framing",))
        back_view = camera.endswith("_back")
        notes = [
            "The garments are flat cut-outs scaled from the face's proportions; they are not draped "
            "or warped to the pose, and the person's own clothes stay visible where they do not cover them."
        ]

        base = self._analyze(request.base_image)
        base_face = self._one_face(base, request.base_image.label, "try-on")
        predictor = self._landmarks()
        landmarks = predictor.predict(base.pixels, base_face)
        photo = base.pixels
        transfer: dict[str, Any] | None = None
        if request.face_images and back_view:
            notes.append("face_images[0] was not used: a back view shows no face.")
        elif request.face_images and request.face_images[0].data == request.base_image.data:
            # the avatar dressed as itself: its face is already the one to judge against
            self._one_face(base, request.face_images[0].label, "try-on with a face")
            transfer = {"skipped": "face_images[0] is the base image"}
        elif request.face_images:
            # before dressing: the transfer reshapes a ring around the face, which would bend a
            # collar; the garments never cover the face, so the order does not change the face
            identity_image = request.face_images[0]
            identity = self._analyze(identity_image)
            identity_face = self._one_face(identity, identity_image.label, "try-on with a face")
            photo, landmarks = _transfer_near_face(
                photo,
                landmarks,
                base_face.box,
                identity.pixels,
                predictor.predict(identity.pixels, identity_face),
                identity_shape=identity_shape,
                blend=blend,
            )
            transfer = {"identity_shape": identity_shape, "blend": blend}
        person = person_from_landmarks(landmarks, base_face.box)

        cache: dict[bytes, GarmentAnalysis] = {}
        fronts = [i for i in range(len(garments)) if i not in backs.values()]
        drawn: dict[int, GarmentAnalysis] = {}
        analyses: dict[int, GarmentAnalysis] = {}
        for i in fronts:
            front = analyses[i] = self._garment(garments[i], cache)
            if back_view and i in backs:
                back = analyses[backs[i]] = self._garment(garments[backs[i]], cache)
                # the back image is drawn, the front decides what the garment is
                drawn[i] = replace(back, category=front.category, length=front.length)
            else:
                drawn[i] = front
                if back_view:
                    notes.append(
                        f"{_the(garments[i].label)} has no back image: its front stands in "
                        "(the engine does not synthesise a back view)."
                    )
            if front.category == "unknown":
                notes.append(f"The type of {_the(garments[i].label)} is unclear; it was placed like a top.")
        if back_view:
            notes.append(
                "The engine cannot show the person from behind: the back view shows the garments alone."
            )
        order = sorted(fronts, key=lambda i: (LAYER_ORDER.get(drawn[i].category, 3), i))

        h, w = photo.shape[:2]
        settled = [place_garment(i, drawn[i], person) for i in order]
        window = camera_window(camera, person, settled, (w, h), options.aspect_ratio)
        ww, wh = window[2] - window[0], window[3] - window[1]
        longest = options.size or min(round(max(ww, wh)), DEFAULT_TRY_ON_MAX_SIDE)
        if options.aspect_ratio is not None:
            out = output_dimensions(options.aspect_ratio, longest)
        else:
            f = longest / max(ww, wh)
            out = (max(1, round(ww * f)), max(1, round(wh * f)))
        f = out[0] / ww
        dx, dy = -window[0] * f, -window[1] * f
        extended = {
            "left": round(max(0.0, -window[0])),
            "top": round(max(0.0, -window[1])),
            "right": round(max(0.0, window[2] - w)),
            "bottom": round(max(0.0, window[3] - h)),
        }
        if not back_view and any(extended.values()):
            notes.append(
                "The photo does not reach everywhere the frame or a garment goes: the canvas was "
                "extended with the photo's blurred edge colours; no body was invented there."
            )
        person_alpha = (
            segment_subject(photo, base_face.box)
            if options.background is not None and not back_view
            else None
        )
        light = lighting(photo, person) if not back_view else None
        default_aspect = CAMERA_ASPECTS.get(camera)
        aspect_label = options.to_dict()["aspect_ratio"] or (
            f"{default_aspect[0]}:{default_aspect[1]}" if default_aspect else None
        )
        finish = replace(options, size=None, aspect_ratio=None, background=None)
        garment_details = []
        for i in order:
            entry = {"index": i, **{k: v for k, v in analyses[i].to_dict().items() if k != "measurements"}}
            if i in backs:
                entry["back_image"] = backs[i]
            garment_details.append(entry)

        outputs = []
        for index in range(count):
            jitter = jitter_for(seed, index)
            placements: list[Placement] = [place_garment(i, drawn[i], person, jitter) for i in order]
            rgb = render(
                photo,
                person,
                [(drawn[p.garment], p) for p in placements],
                window,
                out,
                fill=options.background,
                person_alpha=person_alpha,
                show_person=not back_view,
                light=light,
            )
            data, width, height = self._finish(rgb, None, finish, reframe=False)
            outputs.append(
                EngineOutput(
                    data=data,
                    content_type=options.content_type,
                    width=width,
                    height=height,
                    shows_person=not back_view,
                    face_sources=(0,) if transfer is not None else (),
                    details={
                        "operation": Operation.TRY_ON.value,
                        "index": index,
                        "seed": seed_reported,
                        "camera": camera,
                        "garments": garment_details,
                        "placements": [p.to_dict(f, dx, dy) for p in placements],
                        "jitter": {k: round(v, 4) for k, v in jitter.items()},
                        "person": person.scaled(f, dx, dy) if not back_view else None,
                        "window": [round(v, 1) for v in window],
                        "extended": extended,
                        "face_transfer": transfer,
                        "light_gains": None if light is None else [round(float(v), 3) for v in light],
                        "notes": list(notes),
                        "output": {**options.to_dict(), "size": max(out), "aspect_ratio": aspect_label},
                        **({"ignored_params": ignored} if ignored else {}),
                    },
                )
            )
        return outputs


def _transfer_near_face(
    photo: np.ndarray,
    landmarks: np.ndarray,
    face_box: Box,
    identity: np.ndarray,
    identity_landmarks: np.ndarray,
    *,
    identity_shape: float,
    blend: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Face transfer on a window around the face only: it reshapes a ring about 1.8 face
    extents wide and leaves the rest untouched, so a full-length photo need not be warped
    whole (biden.jpg: 0.22 s of warping down to 0.05 s). Returns the photo and its new landmarks."""
    h, w = photo.shape[:2]
    reach = 2.2 * max(face_box[2] - face_box[0], face_box[3] - face_box[1])
    cx, cy = (face_box[0] + face_box[2]) / 2.0, (face_box[1] + face_box[3]) / 2.0
    x1, y1 = max(0, int(cx - reach)), max(0, int(cy - reach))
    x2, y2 = min(w, int(math.ceil(cx + reach))), min(h, int(math.ceil(cy + reach)))
    offset = np.array([x1, y1], dtype=np.float32)
    result = transfer_face(
        np.ascontiguousarray(photo[y1:y2, x1:x2]),
        landmarks - offset,
        identity,
        identity_landmarks,
        identity_shape=identity_shape,
        blend=blend,
    )
    out = photo.copy()
    out[y1:y2, x1:x2] = result.image
    return out, result.target_points[:68] + offset


def _garment_backs(raw: Any, count: int) -> dict[int, int]:
    """``garment_backs``: {front index: back index} over garment_images (JSON keys may be strings)."""
    if raw is None:
        return {}
    usage = 'garment_backs must map a front garment index to the index of its back image, e.g. {"0": 1}'
    if not isinstance(raw, Mapping):
        raise invalid(f"{usage}; got {raw!r}")
    out: dict[int, int] = {}
    for key, value in raw.items():
        front = int(key) if isinstance(key, str) and key.strip().isdigit() else key
        if (
            isinstance(front, bool)
            or not isinstance(front, int)
            or isinstance(value, bool)
            or not isinstance(value, int)
        ):
            raise invalid(f"{usage}; got {key!r}: {value!r}")
        for index in (front, value):
            if not 0 <= index < count:
                raise invalid(
                    f"garment_backs names garment image {index}; the request has {count} (0..{count - 1})"
                )
        if front == value:
            raise invalid(f"garment_backs maps garment image {front} to itself")
        out[front] = value
    if len(set(out.values())) != len(out):
        raise invalid("garment_backs names one back image for two garments")
    if set(out) & set(out.values()):
        raise invalid("garment_backs names an image both as a front and as a back")
    return out
