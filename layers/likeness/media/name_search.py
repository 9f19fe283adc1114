"""The name predicate of ``GET /api/v1/identities/search?q=`` (the spec's ILIKE search).

``q`` is an ILIKE pattern matched anywhere in the name, as ``name ILIKE '%' || q || '%'`` would:

- case-insensitive (both sides case-folded; runs of whitespace count as one space, ends trimmed,
  as names are compared everywhere else);
- ``%`` matches any run of characters (none included), ``_`` exactly one character;
- so a plain term (no wildcard) matches names that contain it: ``q=Cary`` finds "Cary Grant";
- ``\\`` escapes the next character, as PostgreSQL's default LIKE escape does: ``\\%`` is a
  literal percent sign, ``\\_`` a literal underscore, ``\\\\`` a backslash (and ``\\a`` is ``a``).
  A pattern ending in a lone ``\\`` is refused (422 ``invalid_request``), as PostgreSQL refuses it.

Matching walks the name once per pattern position at worst (no regular expression, so no
backtracking blow-up however many ``%`` a query holds).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from likeness.errors import Unprocessable
from likeness.media.store import name_key

__all__ = ["ANY_RUN", "ONE_CHAR", "name_matcher", "pattern_tokens"]

ANY_RUN: Final = object()  # %
ONE_CHAR: Final = object()  # _

Token = str | object


def pattern_tokens(query: str) -> list[Token]:
    """The folded pattern as tokens: a literal character, ``ANY_RUN`` or ``ONE_CHAR``."""
    text = name_key(query)
    if not text:
        raise Unprocessable(
            "q must not be empty",
            code="invalid_request",
            fix="Send ?q=part-of-a-name (% and _ are wildcards).",
        )
    tokens: list[Token] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped is None:
                raise Unprocessable(
                    "q must not end with the escape character \\",
                    code="invalid_request",
                    fix="Write \\\\ for a backslash, \\% for a percent sign, \\_ for an underscore.",
                )
            tokens.append(escaped)
        elif char == "%":
            if not tokens or tokens[-1] is not ANY_RUN:
                tokens.append(ANY_RUN)
        elif char == "_":
            tokens.append(ONE_CHAR)
        else:
            tokens.append(char)
    return tokens


def _matches(tokens: list[Token], text: str) -> bool:
    """Whole-text wildcard match: greedy, going back to the last ``%`` on a mismatch (O(n*m))."""
    t = p = 0
    star = -1
    resume = 0
    while t < len(text):
        if p < len(tokens) and tokens[p] is ANY_RUN:
            star, resume = p, t
            p += 1
        elif p < len(tokens) and (tokens[p] is ONE_CHAR or tokens[p] == text[t]):
            t += 1
            p += 1
        elif star >= 0:
            resume += 1
            t, p = resume, star + 1
        else:
            return False
    while p < len(tokens) and tokens[p] is ANY_RUN:
        p += 1
    return p == len(tokens)


def name_matcher(query: str) -> Callable[[str], bool]:
    """A predicate on an identity's ``name_key`` (its folded name): does it match ``q``?
    422 ``invalid_request`` for an empty ``q`` or one ending in a lone ``\\``."""
    tokens = [ANY_RUN, *pattern_tokens(query), ANY_RUN]
    if tokens[1] is ANY_RUN:
        tokens.pop(0)
    if len(tokens) > 1 and tokens[-2] is ANY_RUN:
        tokens.pop()
    return lambda folded_name: _matches(tokens, folded_name)
