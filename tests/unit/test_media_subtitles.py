"""Subtitles: SRT/WebVTT parsing, sentence chunks with their times and frames, the chunk text."""

from __future__ import annotations

import pytest

from likeness.errors import BadRequest
from likeness.media.subtitles import (
    Cue,
    SentenceChunk,
    chunk_id_for,
    format_chunk_text,
    load_subtitles,
    parse_subtitles,
    sentence_chunks,
)

SRT = """1
00:00:01,000 --> 00:00:03,500
<i>Hello there,</i>
<b>Mr. Smith.</b>

2
00:00:04,000 --> 00:00:06,000
{\\an8}How are you?

3
00:01:02,250 --> 00:01:04,750
<font color="#ffff00">Fine &amp; you?</font>
"""

VTT = """WEBVTT - Some title
Kind: captions
Language: en

NOTE
This is a comment, it spans
several lines 00:00:00.000 --> 00:00:01.000 is not a cue.

STYLE
::cue(.yellow) { color: yellow; }

REGION
id:fred width:40% lines:3

intro
00:01.000 --> 00:02.500 align:start position:10% line:0
<v Roger Bingham>We are in</v>
<c.yellow>New York City</c>

NOTE one-line note

00:00:02.500 --> 00:00:04.000 region:fred
<v.loud Neil>and it's <00:00:03.000>cold.</v>
"""


def _bad(exc: pytest.ExceptionInfo[BadRequest]) -> BadRequest:
    err = exc.value
    assert err.error_code == "invalid_subtitles"
    assert err.message.startswith("invalid subtitles")
    return err


# --------------------------------------------------------------------------- parsing


def test_srt_multiline_cues_tags_stripped_and_joined() -> None:
    assert parse_subtitles(SRT) == [
        Cue(1.0, 3.5, "Hello there, Mr. Smith."),
        Cue(4.0, 6.0, "How are you?"),
        Cue(62.25, 64.75, "Fine & you?"),
    ]


def test_srt_bytes_with_bom_and_crlf() -> None:
    data = ("\ufeff" + SRT.replace("\n", "\r\n")).encode("utf-8")
    assert load_subtitles(data) == parse_subtitles(SRT)
    # a bare CR (old Mac files) splits lines too
    assert parse_subtitles(SRT.replace("\n", "\r")) == parse_subtitles(SRT)


def test_srt_without_index_lines_and_with_dot_milliseconds() -> None:
    text = "00:00:01.000 --> 00:00:02.000\nOne.\n\n00:00:02.5 --> 00:00:03,25\nTwo.\n"
    assert parse_subtitles(text) == [Cue(1.0, 2.0, "One."), Cue(2.5, 3.25, "Two.")]


def test_srt_out_of_order_cues_are_sorted_and_empty_cues_dropped() -> None:
    text = (
        "2\n00:00:05,000 --> 00:00:06,000\nSecond.\n\n"
        "1\n00:00:01,000 --> 00:00:02,000\nFirst.\n\n"
        "3\n00:00:07,000 --> 00:00:08,000\n<i></i>\n"
    )
    assert [c.text for c in parse_subtitles(text)] == ["First.", "Second."]


def test_srt_text_after_a_blank_line_stays_with_its_cue() -> None:
    text = (
        "1\n00:00:01,000 --> 00:00:02,000\nFirst line\n\nsecond line\n\n"
        "2\n00:00:03,000 --> 00:00:04,000\nNext\n"
    )
    assert parse_subtitles(text) == [Cue(1.0, 2.0, "First line second line"), Cue(3.0, 4.0, "Next")]


def test_srt_missing_blank_line_between_cues() -> None:
    text = "1\n00:00:01,000 --> 00:00:02,000\nOne\n2\n00:00:03,000 --> 00:00:04,000\nTwo\n"
    assert parse_subtitles(text) == [Cue(1.0, 2.0, "One"), Cue(3.0, 4.0, "Two")]


def test_vtt_header_notes_styles_regions_settings_and_voice_tags() -> None:
    assert parse_subtitles(VTT) == [
        Cue(1.0, 2.5, "We are in New York City"),
        Cue(2.5, 4.0, "and it's cold."),
    ]


def test_vtt_long_hours_and_crlf_bom() -> None:
    text = "\ufeffWEBVTT\r\n\r\n1\r\n101:00:00.000 --> 101:00:01.500\r\n<b>Late</b> line\r\n"
    assert parse_subtitles(text) == [Cue(363600.0, 363601.5, "Late line")]


def test_vtt_cue_right_after_the_header_line() -> None:
    assert parse_subtitles("WEBVTT\n00:00.500 --> 00:01.000\nNo blank line.\n") == [
        Cue(0.5, 1.0, "No blank line.")
    ]


def test_load_falls_back_to_cp1252_and_reads_utf16() -> None:
    text = "1\n00:00:01,000 --> 00:00:02,000\nCafé “naïve” – olá\n"
    assert load_subtitles(text.encode("cp1252")) == [Cue(1.0, 2.0, "Café “naïve” – olá")]
    assert load_subtitles(text.encode("utf-8")) == [Cue(1.0, 2.0, "Café “naïve” – olá")]
    assert load_subtitles(text.encode("utf-16")) == [Cue(1.0, 2.0, "Café “naïve” – olá")]
    # a byte cp1252 leaves undefined (0x81) still decodes, as latin-1, and control characters go
    latin = b"1\n00:00:01,000 --> 00:00:02,000\nCaf\xe9\x81 ol\xe1\n"
    assert load_subtitles(latin) == [Cue(1.0, 2.0, "Café olá")]


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "text",
    ["", "   \n\n", "this is not a subtitle file\nat all\n", "WEBVTT\n\nNOTE nothing here\n"],
)
def test_no_cue_is_refused(text: str) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_subtitles(text)
    assert "no " in _bad(exc).message and "cue" in _bad(exc).message
    assert exc.value.fix and "-->" in exc.value.fix


def test_reversed_times_are_refused_with_the_line() -> None:
    text = "1\n00:00:01,000 --> 00:00:02,000\nOk\n\n2\n00:00:05,000 --> 00:00:04,000\nBackwards\n"
    with pytest.raises(BadRequest) as exc:
        parse_subtitles(text)
    err = _bad(exc)
    assert "line 6" in err.message and "before it starts" in err.message
    assert err.to_detail()["line"] == 6


@pytest.mark.parametrize(
    ("timing", "what"),
    [
        ("00:00:0x,000 --> 00:00:02,000", "00:00:0x,000"),
        ("00:00:01,000 --> soon", "soon"),
        ("00:75:01,000 --> 00:76:02,000", "60 or more"),
        ("00:00:01,000 -->", "needs a start and an end"),
    ],
)
def test_unparsable_timestamps_are_refused_with_the_line(timing: str, what: str) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_subtitles(f"WEBVTT\n\n{timing}\nText\n")
    err = _bad(exc)
    assert "line 3" in err.message and what in err.message


def test_binary_is_refused() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00"
    with pytest.raises(BadRequest) as exc:
        load_subtitles(png)
    assert "binary" in _bad(exc).message and "offset 8" in exc.value.message


# --------------------------------------------------------------------------- sentences


def test_spec_example_times_frames_and_text() -> None:
    [chunk] = sentence_chunks([Cue(212.64, 213.64, "Olá!")], fps=24.0)
    assert chunk == SentenceChunk(
        index=0, start_time=212.64, end_time=213.64, start_frame=5103, end_frame=5127, fps=24.0, text="Olá!"
    )
    assert format_chunk_text(chunk, "Cary Grant") == '[213s-214s] Cary Grant: "Olá!"'
    assert format_chunk_text(chunk, None) == '[213s-214s] "Olá!"'
    assert format_chunk_text(chunk, "  ") == '[213s-214s] "Olá!"'
    assert chunk_id_for("bd80fec92b0b6963d177a2c55bf713e2", 2) == "bd80fec92b0b6963d177a2c55bf713e2_2"


def test_chunk_text_rounds_seconds_half_up() -> None:
    chunk = SentenceChunk(
        index=0, start_time=0.5, end_time=2.49, start_frame=12, end_frame=59, fps=24.0, text="Hi."
    )
    assert format_chunk_text(chunk, None) == '[1s-2s] "Hi."'
    chunk = SentenceChunk(
        index=0, start_time=2.5, end_time=3.5, start_frame=60, end_frame=84, fps=24.0, text="Hi."
    )
    assert format_chunk_text(chunk, "Ann") == '[3s-4s] Ann: "Hi."'


def test_sentence_spanning_cues_runs_from_first_start_to_last_end() -> None:
    cues = [Cue(10.0, 12.0, "I never thought"), Cue(12.5, 14.0, "I would see you"), Cue(14.2, 15.5, "again.")]
    assert sentence_chunks(cues, fps=25.0) == [
        SentenceChunk(0, 10.0, 15.5, 250, 387, 25.0, "I never thought I would see you again."),
    ]


def test_one_cue_with_several_sentences_shares_its_span_by_characters() -> None:
    # "Hi." is 3 characters, "How are you?" 12: the 4 s cue splits at 4 * 3 / 15 = 0.8 s
    chunks = sentence_chunks([Cue(0.0, 4.0, "Hi. How are you?")], fps=25.0)
    assert [(c.index, c.start_time, c.end_time, c.start_frame, c.end_frame, c.text) for c in chunks] == [
        (0, 0.0, 0.8, 0, 20, "Hi."),
        (1, 0.8, 4.0, 20, 100, "How are you?"),
    ]


def test_sentence_starting_inside_a_cue_and_ending_in_the_next() -> None:
    # cue 1: "Yes." (4) + "And then we" (11) over 3 s -> split at 3 * 4 / 15 = 0.8 s
    # cue 2: "left." (5) + "Bye!" (4) over 1.8 s -> split at 2 + 1.8 * 5 / 9 = 3.0 s
    cues = [Cue(0.0, 3.0, "Yes. And then we"), Cue(2.0, 3.8, "left. Bye!")]
    chunks = sentence_chunks(cues, fps=30.0)
    assert [(c.start_time, c.end_time, c.start_frame, c.end_frame, c.text) for c in chunks] == [
        (0.0, 0.8, 0, 24, "Yes."),
        (0.8, 3.0, 24, 90, "And then we left."),
        (3.0, 3.8, 90, 114, "Bye!"),
    ]


def test_times_are_rounded_to_two_decimals_and_frames_use_them() -> None:
    # "How are you?" 12, "I'm fine." 9, "It costs 3.5 dollars" 20 characters over 2.5 s:
    # splits at 3.5 + 2.5 * 12 / 41 = 4.2317 and 3.5 + 2.5 * 21 / 41 = 4.7805
    chunks = sentence_chunks([Cue(3.5, 6.0, "How are you? I'm fine. It costs 3.5 dollars")], fps=24.0)
    assert [(c.start_time, c.end_time, c.start_frame, c.end_frame) for c in chunks] == [
        (3.5, 4.23, 84, 101),
        (4.23, 4.78, 101, 114),
        (4.78, 6.0, 114, 144),
    ]
    assert chunks[2].text == "It costs 3.5 dollars"  # trailing text without punctuation is a sentence


def test_frames_do_not_fall_a_frame_short_on_float_error() -> None:
    # 0.29 * 100 is 28.999999999999996 in floating point
    [chunk] = sentence_chunks([Cue(0.29, 0.58, "Go.")], fps=100.0)
    assert (chunk.start_frame, chunk.end_frame) == (29, 58)
    [chunk] = sentence_chunks([Cue(1.0, 2.0, "Go.")], fps=29.97)
    assert (chunk.start_frame, chunk.end_frame, chunk.fps) == (29, 59, 29.97)


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Mr. Smith met Dr. Jones. They talked.", ["Mr. Smith met Dr. Jones.", "They talked."]),
        (
            "Bring fruit, e.g. apples, i.e. red ones. Thanks.",
            ["Bring fruit, e.g. apples, i.e. red ones.", "Thanks."],
        ),
        ("It costs 3.5 dollars. Or 4.25 euros!", ["It costs 3.5 dollars.", "Or 4.25 euros!"]),
        ("J. R. R. Tolkien wrote it. Really?", ["J. R. R. Tolkien wrote it.", "Really?"]),
        ("Wait… what?! No way...", ["Wait…", "what?!", "No way..."]),
        ('She said "Go!" and left.', ['She said "Go!"', "and left."]),
        ("Room no. 5 please. No. Not that one.", ["Room no. 5 please.", "No.", "Not that one."]),
        ("- Who? - Me.", ["- Who?", "- Me."]),
        ("... and so it ends.", ["... and so it ends."]),
        ("你好。我很好！", ["你好。", "我很好！"]),
    ],
)
def test_sentence_boundaries(text: str, sentences: list[str]) -> None:
    assert [c.text for c in sentence_chunks([Cue(0.0, 10.0, text)], fps=24.0)] == sentences


def test_abbreviation_at_a_cue_end_continues_into_the_next_cue() -> None:
    chunks = sentence_chunks([Cue(1.0, 2.0, "Good evening, Mr."), Cue(2.1, 3.0, "Bond.")], fps=24.0)
    assert [(c.start_time, c.end_time, c.text) for c in chunks] == [(1.0, 3.0, "Good evening, Mr. Bond.")]
    # but a word that only sometimes abbreviates ends the sentence at a cue's end
    chunks = sentence_chunks([Cue(1.0, 2.0, "I said no."), Cue(2.1, 3.0, "Go away.")], fps=24.0)
    assert [c.text for c in chunks] == ["I said no.", "Go away."]


def test_a_long_pause_ends_a_sentence() -> None:
    cues = [Cue(0.0, 1.0, "So I waited"), Cue(3.5, 4.0, "nothing happened"), Cue(6.0, 7.0, "at all.")]
    chunks = sentence_chunks(cues, fps=10.0)
    # 2.5 s gap > 2 s ends the first sentence; exactly 2 s does not
    assert [(c.index, c.start_time, c.end_time, c.text) for c in chunks] == [
        (0, 0.0, 1.0, "So I waited"),
        (1, 3.5, 7.0, "nothing happened at all."),
    ]
    assert [c.text for c in sentence_chunks(cues, fps=10.0, max_gap=0.5)] == [
        "So I waited",
        "nothing happened",
        "at all.",
    ]


def test_cues_without_words_are_skipped_and_order_is_by_time() -> None:
    cues = [Cue(5.0, 6.0, "there."), Cue(0.0, 1.0, "♪ ♪"), Cue(4.0, 5.0, "Hello")]
    chunks = sentence_chunks(cues, fps=24.0)
    assert [(c.index, c.start_time, c.end_time, c.text) for c in chunks] == [(0, 4.0, 6.0, "Hello there.")]
    assert sentence_chunks([], fps=24.0) == []


def test_parsed_files_chunk_end_to_end() -> None:
    chunks = sentence_chunks(parse_subtitles(SRT), fps=24.0)
    assert [(c.start_time, c.end_time, c.start_frame, c.end_frame, c.text) for c in chunks] == [
        (1.0, 3.5, 24, 84, "Hello there, Mr. Smith."),
        (4.0, 6.0, 96, 144, "How are you?"),
        (62.25, 64.75, 1494, 1554, "Fine & you?"),
    ]
    chunks = sentence_chunks(parse_subtitles(VTT), fps=25.0)
    assert [(c.start_time, c.end_time, c.text) for c in chunks] == [
        (1.0, 4.0, "We are in New York City and it's cold."),
    ]


@pytest.mark.parametrize("fps", [0.0, -24.0, float("nan"), float("inf")])
def test_fps_must_be_positive(fps: float) -> None:
    with pytest.raises(ValueError, match="fps"):
        sentence_chunks([Cue(0.0, 1.0, "Hi.")], fps=fps)
