"""Face pipeline: decode uploads, detect and assess faces, embed identities.

Importing this package stays light (no numpy, OpenCV, onnxruntime or dlib); the heavy
modules are ``likeness.faces.pipeline``, ``.detector``, ``.embedder``, ``.quality`` and ``.views``.
"""

from likeness.faces.types import DecodedImage, DetectedFace, FaceAnalysis, QualityProblem, QualityReport

__all__ = ["DecodedImage", "DetectedFace", "FaceAnalysis", "QualityProblem", "QualityReport"]
