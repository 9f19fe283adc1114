"""The embedded classical engine: computer vision on the CPU, no generative model weights.

Importing this package stays light (pydantic only): ``capabilities`` is plain data the API
lists; the engine itself (numpy, OpenCV, dlib) is ``likeness.engines.classical.engine``.
"""

from likeness.engines.classical.capabilities import CLASSICAL_CAPABILITIES, SLUG

__all__ = ["CLASSICAL_CAPABILITIES", "SLUG"]
