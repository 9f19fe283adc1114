"""Subtitles (SRT and WebVTT) and the sentence chunks built from them.

A file's subtitles are parsed into :class:`Cue` s, then regrouped into sentences
(:class:`SentenceChunk`): a sentence may span several cues and one cue may hold several
sentences. Each chunk carries its time span and the frames it covers, so the API can say
what was said while a face was on screen.

Pure standard library: cheap to import from an API function.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from likeness.errors import BadRequest

__all__ = [
    "SENTENCE_GAP_S",
    "Cue",
    "SentenceChunk",
    "chunk_id_for",
    "format_chunk_text",
    "load_subtitles",
    "parse_subtitles",
    "sentence_chunks",
]

#: A pause longer than this between two cues ends a sentence even without final punctuation.
SENTENCE_GAP_S = 2.0

_ERROR_CODE = "invalid_subtitles"
_FIX = (
    "Send an SRT or WebVTT file: cues of a timing line like '00:01:02,500 --> 00:01:04,000' "
    "(WebVTT: '00:01:02.500 --> 00:01:04.000') followed by the cue's text."
)


@dataclass(frozen=True)
class Cue:
    """One subtitle cue: its text (tags stripped, lines joined by spaces), shown from start to end (s)."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class SentenceChunk:
    """One sentence of a file's subtitles, with its time span (s, 2 decimals) and frames."""

    index: int
    start_time: float
    end_time: float
    start_frame: int
    end_frame: int
    fps: float
    text: str


# --------------------------------------------------------------------------- parsing


def _bad(message: str, *, line: int | None = None) -> BadRequest:
    extra = {"line": line} if line is not None else None
    where = f"line {line}: " if line is not None else ""
    return BadRequest(f"invalid subtitles: {where}{message}", code=_ERROR_CODE, fix=_FIX, extra=extra)


# [HH:]MM:SS[,.]mmm -- hours optional (WebVTT), milliseconds with either separator (SRT uses ',').
_TIMESTAMP = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[,.](\d{1,3}))?$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_TAG = re.compile(r"<[^>\n]*>")  # <i>, </b>, <v Speaker>, <c.yellow>, <00:00:01.000>, <font ...>
_ASS_OVERRIDE = re.compile(r"\{\\[^}\n]*\}")  # {\an8}, {\i1}, {\pos(10,20)}
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_VTT_SKIPPED_BLOCKS = ("NOTE", "STYLE", "REGION")


def _parse_timestamp(raw: str, line: int) -> float:
    m = _TIMESTAMP.match(raw.strip())
    if m is None:
        raise _bad(
            f"cannot parse timestamp {raw.strip()!r} (expected HH:MM:SS,mmm or HH:MM:SS.mmm)", line=line
        )
    hours, minutes, seconds, frac = m.groups()
    if int(minutes) >= 60 or int(seconds) >= 60:
        raise _bad(f"timestamp {raw.strip()!r} has minutes or seconds of 60 or more", line=line)
    millis = int((frac or "0").ljust(3, "0"))
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + millis / 1000


def _parse_timing(text: str, line: int) -> tuple[float, float]:
    """``"00:00:01,000 --> 00:00:02,500 [settings]"`` -> (1.0, 2.5)."""
    left, _, right = text.partition("-->")
    right_parts = right.split()
    if not left.strip() or not right_parts:
        raise _bad(f"timing line {text.strip()!r} needs a start and an end timestamp", line=line)
    start = _parse_timestamp(left, line)
    end = _parse_timestamp(right_parts[0], line)  # anything after it: WebVTT cue settings, ignored
    if end < start:
        raise _bad(f"cue ends ({right_parts[0]}) before it starts ({left.strip()})", line=line)
    return start, end


def _clean_text(lines: list[str]) -> str:
    text = " ".join(lines)
    text = _ASS_OVERRIDE.sub("", _TAG.sub("", text))
    text = _CONTROL.sub("", html.unescape(text))
    return _SPACES.sub(" ", text).strip()


def _is_vtt_block_start(stripped: str) -> bool:
    if stripped.startswith("WEBVTT"):
        return True
    return any(
        stripped == name or stripped.startswith((name + " ", name + "\t")) for name in _VTT_SKIPPED_BLOCKS
    )


def parse_subtitles(text: str) -> list[Cue]:
    """Parse SRT or WebVTT text into cues sorted by start time.

    Tolerates a BOM, CRLF or CR line ends, missing SRT index lines, WebVTT cue identifiers and
    cue settings, NOTE/STYLE/REGION blocks and the WebVTT header. Markup (``<i>``, ``<v Speaker>``,
    ``{\\an8}``, HTML entities) is stripped and a cue's lines are joined by spaces; cues left
    without text are dropped. Raises :class:`BadRequest` (code ``invalid_subtitles``, the line in
    ``extra["line"]``) for a timestamp that does not parse, a cue that ends before it starts, or
    input with no cue at all.
    """
    text = text.removeprefix("\ufeff")
    lines = _LINE_BREAK.split(text)
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    is_vtt = first.startswith("WEBVTT")

    cues: list[Cue] = []
    current: tuple[float, float, list[str]] | None = None
    skipping = False  # inside the WebVTT header or a NOTE/STYLE/REGION block
    in_header = False  # skipping the WebVTT header block (a timing line there still starts a cue)
    after_blank = True  # at the start of a block

    def finish() -> None:
        nonlocal current
        if current is not None:
            body = _clean_text(current[2])
            if body:
                cues.append(Cue(start=current[0], end=current[1], text=body))
            current = None

    for i, raw in enumerate(lines):
        line_no = i + 1
        stripped = raw.strip()
        if not stripped:
            # a blank line ends a cue and any skipped block
            finish()
            skipping = in_header = False
            after_blank = True
            continue
        block_start, after_blank = after_blank, False
        if skipping and not (in_header and "-->" in stripped):
            continue
        skipping = in_header = False
        if "-->" in stripped:
            finish()
            start, end = _parse_timing(stripped, line_no)
            current = (start, end, [])
            continue
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if "-->" in nxt and (block_start or stripped.isdigit()):
            # an SRT index or a WebVTT cue identifier: the next line is this cue's timing
            finish()
            continue
        if is_vtt and block_start and current is None and _is_vtt_block_start(stripped):
            skipping, in_header = True, stripped.startswith("WEBVTT")
            continue
        if current is not None:
            current[2].append(stripped)
        elif not is_vtt and cues and not stripped.isdigit():
            # SRT text after a blank line inside a cue: it still belongs to the last cue
            last = cues[-1]
            more = _clean_text([stripped])
            cues[-1] = Cue(start=last.start, end=last.end, text=f"{last.text} {more}".strip())
        # anything else outside a cue (stray text, WebVTT junk) is ignored, as WebVTT readers do
    finish()

    if not cues:
        kind = "WebVTT" if is_vtt else "SRT/WebVTT"
        raise _bad(f"no {kind} cue with text found ({len(lines)} lines read)")
    cues.sort(key=lambda c: (c.start, c.end))
    return cues


def load_subtitles(data: bytes) -> list[Cue]:
    """Decode a subtitles file (UTF-8 with or without BOM, UTF-16 with BOM, else cp1252 or
    latin-1) and parse it. Binary content (NUL bytes) is refused with :class:`BadRequest`."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return parse_subtitles(data.decode("utf-16"))
        except UnicodeDecodeError as exc:
            raise _bad(
                f"the file starts with a UTF-16 byte order mark but is not UTF-16 ({exc.reason})"
            ) from exc
    nul = data.find(b"\x00")
    if nul >= 0:
        raise _bad(f"the file is binary, not subtitle text (NUL byte at offset {nul})")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return parse_subtitles(data.decode(encoding))
        except UnicodeDecodeError:
            continue
    return parse_subtitles(data.decode("latin-1"))


# --------------------------------------------------------------------------- sentences

# End of sentence: a run of . ! ? … (with closing quotes/brackets) before whitespace or the end,
# or CJK full stops, which need no space after them.
_BOUNDARY = re.compile(r"(?:[.!?…]+[\"'”’»)\]]*(?=\s|$))|(?:[。！？]+[」』”’）]*)")
_ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "mt", "ft", "vs", "etc", "approx",
        "gen", "col", "capt", "lt", "sgt", "rev", "gov", "sen", "pres", "fr", "sra",
        "srta", "dra", "av", "no", "nos", "vol", "fig", "cf", "jan", "feb", "mar", "apr", "jun", "jul",
        "aug", "sep", "sept", "oct", "nov", "dec",
    }
)  # fmt: skip
# "no." / "etc." / month names often end a sentence too: only treat them as abbreviations
# when the next word does not start with a capital letter.
_WEAK_ABBREVIATIONS = frozenset({"etc", "no", "nos", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
                                 "sept", "oct", "nov", "dec", "vol", "fig", "approx"})  # fmt: skip
_DOTTED = re.compile(r"^(?:[a-z]\.)+[a-z]$")  # e.g / i.e / u.s / a.m (the last dot is the match)
_OPENERS = "\"'“‘«([¿¡-—"


def _has_word(text: str) -> bool:
    return any(c.isalnum() for c in text)


def _is_abbreviation(text: str, dot: int, after: int) -> bool:
    """Whether the single ``.`` at ``dot`` closes an abbreviation or an initial, not a sentence."""
    m = re.search(r"(\S+)$", text[:dot])
    if m is None:
        return False
    token = m.group(1).lstrip(_OPENERS)
    low = token.lower()
    following = text[after:].lstrip().lstrip(_OPENERS)
    if not following:
        # at the end of a cue only a title ("Mr.", "Dr.") cannot end the sentence
        return low in _ABBREVIATIONS and low not in _WEAK_ABBREVIATIONS
    if len(token) == 1 and token.isalpha() and token.isupper():
        return True  # an initial: "J. R. R. Tolkien"
    if _DOTTED.match(low):
        return True  # "e.g.", "i.e.", "U.S."
    if low in _WEAK_ABBREVIATIONS:
        return not following[0].isupper()
    return low in _ABBREVIATIONS


def _split_sentences(text: str) -> list[tuple[str, bool]]:
    """Split one cue's text into pieces: (text, ends_a_sentence). Only the last may not end one."""
    pieces: list[tuple[str, bool]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        candidate = text[start : m.end()]
        if not _has_word(candidate):
            continue  # a leading "..." or "- ...": no sentence before it yet
        punct = m.group(0).rstrip("\"'”’»)]")
        if punct == "." and _is_abbreviation(text, m.start(), m.end()):
            continue
        pieces.append((candidate.strip(), True))
        start = m.end()
    rest = text[start:].strip()
    if rest:
        pieces.append((rest, False))
    return pieces


def _frame(seconds: float, fps: float) -> int:
    # round first so 0.29 s * 100 fps (28.999999999999996) lands on frame 29
    return math.floor(round(seconds * fps, 6))


def sentence_chunks(
    cues: Sequence[Cue], *, fps: float, max_gap: float = SENTENCE_GAP_S
) -> list[SentenceChunk]:
    """Regroup cues into sentences.

    Cue texts are read in time order and split at ``. ! ? …`` (kept; not at abbreviations such as
    "Mr." or "e.g." nor inside decimals). A sentence spanning several cues runs from where it starts
    in its first cue to where it ends in its last; when a cue holds several sentences its span is
    shared between them in proportion to their lengths in characters. Text without final
    punctuation is a sentence too, ended by the last cue or by a pause longer than ``max_gap``
    seconds. Cues without a letter or digit (e.g. "♪") are skipped. Times are rounded to 2 decimals
    and frames are ``floor(time * fps)`` of the rounded times.
    """
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")

    spans: list[tuple[float, float, str]] = []
    parts: list[str] = []
    part_start = part_end = 0.0
    last_cue_end: float | None = None

    def flush() -> None:
        nonlocal parts
        if parts:
            body = _SPACES.sub(" ", " ".join(parts)).strip()
            if _has_word(body):
                spans.append((part_start, part_end, body))
            parts = []

    for cue in sorted(cues, key=lambda c: (c.start, c.end)):
        if not _has_word(cue.text):
            continue
        if last_cue_end is not None and cue.start - last_cue_end > max_gap:
            flush()
        pieces = _split_sentences(cue.text)
        total = sum(len(p) for p, _ in pieces)
        duration = max(cue.end - cue.start, 0.0)
        done = 0
        for piece, ends_sentence in pieces:
            begin = cue.start + duration * done / total
            done += len(piece)
            finish = cue.end if done == total else cue.start + duration * done / total
            if not parts:
                part_start, part_end = begin, finish
            parts.append(piece)
            part_end = max(part_end, finish)
            if ends_sentence:
                flush()
        last_cue_end = cue.end if last_cue_end is None else max(last_cue_end, cue.end)
    flush()

    chunks: list[SentenceChunk] = []
    for index, (start, end, body) in enumerate(spans):
        start_time, end_time = round(start, 2), round(end, 2)
        chunks.append(
            SentenceChunk(
                index=index,
                start_time=start_time,
                end_time=end_time,
                start_frame=_frame(start_time, fps),
                end_frame=_frame(end_time, fps),
                fps=float(fps),
                text=body,
            )
        )
    return chunks


def _whole_seconds(seconds: float) -> int:
    """Round half up (212.5 -> 213), unlike round()'s half-to-even."""
    return math.floor(round(seconds, 6) + 0.5)


def format_chunk_text(chunk: SentenceChunk, speaker: str | None) -> str:
    """The spec's ``text_content``: ``[213s-214s] Cary Grant: "Olá!"`` (``[213s-214s] "Olá!"`` with
    no speaker), the times in whole seconds rounded half up."""
    stamp = f"[{_whole_seconds(chunk.start_time)}s-{_whole_seconds(chunk.end_time)}s]"
    who = (speaker or "").strip()
    if who:
        return f'{stamp} {who}: "{chunk.text}"'
    return f'{stamp} "{chunk.text}"'


def chunk_id_for(file_uuid: str, index: int) -> str:
    """A chunk's id: ``{file_uuid}_{index}``."""
    return f"{file_uuid}_{index}"
