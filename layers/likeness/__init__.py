"""Likeness core: the shared library every function and batch job imports."""

__version__ = "0.1.0"
