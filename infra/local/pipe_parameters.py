"""Pipes' parameters and Batch's command placeholders, as the local pipe runner evaluates them.

A Pipe's ``BatchJobParameters.Parameters`` may be JSON paths into the SQS record (``$.body.x``;
a body that is valid JSON is read as JSON), and a job definition's command names them as
``Ref::name`` placeholders.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


class PipeError(ValueError):
    """A message the pipe cannot turn into a job (a JSON path that matches nothing)."""


def _loads_if_json(value: Any) -> Any:
    """Pipes reads an SQS body that is valid JSON as JSON (so ``$.body.key`` works)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def json_path(record: Mapping[str, Any], path: str) -> Any:
    """The subset of JSON path that Pipes supports in parameters: ``$.a.b``, ``$.a[0]``."""
    if not path.startswith("$"):
        raise PipeError(f"not a JSON path: {path!r}")
    node: Any = record
    tokens = path[1:].replace("[", ".[").split(".")
    for token in (t for t in tokens if t):
        node = _loads_if_json(node)
        if token.startswith("[") and token.endswith("]"):
            if not isinstance(node, list):
                raise PipeError(f"{path}: {token} indexes something that is not a list")
            try:
                node = node[int(token[1:-1])]
            except (ValueError, IndexError):
                raise PipeError(f"{path}: no element {token}") from None
        elif isinstance(node, Mapping) and token in node:
            node = node[token]
        else:
            raise PipeError(f"{path}: the record has no {token!r}")
    return node


def substitute(command: Sequence[str], parameters: Mapping[str, str]) -> list[str]:
    """Batch's ``Ref::name`` substitution; an unknown placeholder stays as it is, as in Batch."""
    out = []
    for arg in command:
        if arg.startswith("Ref::") and arg[5:] in parameters:
            out.append(parameters[arg[5:]])
        else:
            out.append(arg)
    return out
