"""capture/terminal.py: a stream's raw text -> the lines a terminal leaves on screen."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatebook.capture.terminal import Terminal, collapse


def feed_all(term: Terminal, pieces: list[str]) -> str:
    return "".join(term.feed(p) for p in pieces) + term.close()


class GeneralOnly(Terminal):
    """The same terminal without its fast path (every chunk through the full interpreter)."""

    _feed_simple = Terminal._feed_general  # type: ignore[assignment]


@pytest.mark.parametrize("raw, shown", [
    ("plain\nlines  \n", "plain\nlines  \n"),  # untouched: trailing spaces of a line never redrawn stay
    ("abcdef\rXY\n", "XYcdef\n"),  # a shorter redraw overwrites only the start, as a terminal
    (" 10%|#  | 1/10\r 20%|## | 2/10  \r100%|###| 10/10\n", "100%|###| 10/10\n"),
    ("50%   \r100%\n", "100%\n"),  # the padding of a redrawn line goes
    ("a\r\nb\r\n", "a\nb\n"),  # CRLF is a newline, not a redraw
    ("\r\n\r\n", "\n\n"),
    ("working |\b/\b-\b\\\bdone\n", "working done\n"),  # a backspace spinner
    ("abcdef\r\x1b[Kxy\n", "xy\n"),  # erase to the end of the line
    ("abcdef\x1b[3D\x1b[1Kz\n", "   zef\n"),  # erase to the cursor, then "z" there
    ("abcdef\x1b[2K\rxy\n", "xy\n"),
    ("ab\x1b[5Gx\n", "ab  x\n"),  # column 5
    ("\x1b[31mred\x1b[0m\n", "\x1b[31mred\x1b[0m\n"),  # colours are kept
    ("\x1b[?25lhidden cursor\x1b[?25h\n", "hidden cursor\n"),  # other sequences are dropped
    ("\x1b]0;window title\x07text\n", "text\n"),
    ("\x1b7saved\x1b8\n", "saved\n"),
    ("a lone escape\x1b\n", "a lone escape\n"),
    ("no newline at the end", "no newline at the end"),
    ("ends in a redraw\r", "ends in a redraw"),
    ("", ""),
])
def test_what_a_terminal_shows(raw: str, shown: str) -> None:
    assert collapse(raw) == shown
    assert feed_all(GeneralOnly(), [raw]) == shown


def test_cursor_up_keeps_the_lines_it_reaches_editable() -> None:
    """tqdm's nested bars: the inner bar is drawn one line down and the cursor moves back up.
    Once the stream moved up, the last line stays editable until it scrolls out of reach (the
    first redraw, before gatebook knew, may leave one stale line)."""
    raw = "".join(f"\router {i}\n\rinner {i}\x1b[A" for i in range(1000)) + "\n\ndone\n"
    out = collapse(raw)
    assert out == "outer 0\nouter 999\ninner 999\ndone\n"


def test_cursor_up_beyond_the_top_stays_at_the_top() -> None:
    assert collapse("one\ntwo\x1b[5A\rthree\n") == "one\nthree\n"
    assert collapse("one\ntwo\x1b[5A++\n") == "one\ntwo++\n"  # the column is kept


def test_partial_is_the_line_being_drawn() -> None:
    term = Terminal()
    assert term.feed("first\n 10%|#") == "first\n"
    assert term.partial == " 10%|#"
    assert term.feed("\r 20%|##   ") == ""
    assert term.partial == " 20%|##"  # as shown: the padding of a redraw is not part of it
    assert term.feed("\r100%|###|\n") == "100%|###|\n"
    assert term.partial == ""
    assert term.close() == ""


def test_partial_with_held_lines_never_ends_with_a_newline() -> None:
    term = Terminal()
    term.feed("\rA1\n\rB1\x1b[A\rA2\n\rB2\x1b[A")
    assert term.partial == "A2\nB2"
    term.feed("\n\n")
    assert term.partial == "B2"  # A2 scrolled out of reach (handed out); the bottom row is empty
    assert term.close() == "B2\n"


def test_escape_sequences_and_crlf_cut_between_chunks() -> None:
    term = Terminal()
    out = "".join(term.feed(p) for p in ["bar 1\x1b", "[", "A", "\x1b[3", "1mred\x1b[0m", "\r", "\n"])
    assert out + term.close() == collapse("bar 1\x1b[A\x1b[31mred\x1b[0m\r\n")


def test_a_line_longer_than_line_max_is_handed_out_in_pieces() -> None:
    term = Terminal(line_max=100)
    out = term.feed("x" * 250)
    assert out == "x" * 250 and term.partial == ""
    assert term.feed("yy\n") == "yy\n"


def test_a_long_stream_of_redraws_holds_one_line() -> None:
    term = Terminal()
    for i in range(20_000):
        assert term.feed(f"\r{i:>6}/20000 steps") == ""
    assert term.partial == " 19999/20000 steps"


# -- real tqdm --------------------------------------------------------------------------------------


def test_real_tqdm_bar_collapses_to_its_final_line() -> None:
    tqdm = pytest.importorskip("tqdm").tqdm
    buf = io.StringIO()
    for _ in tqdm(range(5000), file=buf, mininterval=0, ascii=True, ncols=80):
        pass
    raw = buf.getvalue()
    assert raw.count("\r") > 4000  # every step redrew the line
    out = collapse(raw)
    assert out.count("\n") == 1 and out.startswith("100%|") and "5000/5000" in out
    assert len(out) < 100


def test_real_tqdm_write_and_nested_bars() -> None:
    tqdm = pytest.importorskip("tqdm").tqdm
    buf = io.StringIO()
    for epoch in tqdm(range(3), file=buf, mininterval=0, ascii=True, ncols=60, desc="epochs"):
        for _ in tqdm(range(200), file=buf, mininterval=0, ascii=True, ncols=60, desc="batches", leave=False):
            pass
        tqdm.write(f"epoch {epoch} done", file=buf)
    out = collapse(buf.getvalue())
    lines = out.splitlines()
    assert [ln for ln in lines if ln.startswith("epoch ")] == ["epoch 0 done", "epoch 1 done", "epoch 2 done"]
    assert sum("epochs: 100%" in ln for ln in lines) == 1
    assert sum("batches" in ln for ln in lines) <= 2  # at most the stale first redraw of the nested bar
    assert len(out) < 1000 < len(buf.getvalue())


# -- chunk boundaries anywhere ------------------------------------------------------------------------

TOKENS = st.sampled_from([
    "a", "bc", "xyz ", " ", "é✓", "\r", "\n", "\r\n", "\b", "\x1b[A", "\x1b[2A", "\x1b[B", "\x1b[F",
    "\x1b[E", "\x1b[C", "\x1b[2D", "\x1b[3G", "\x1b[K", "\x1b[1K", "\x1b[2K", "\x1b[31m", "\x1b[0m",
    "\x1b[?25l", "\x1b]0;t\x07", "\x1b7", "\x1b", "[", "\x1b[",
])


@st.composite
def text_and_cuts(draw: st.DrawFn) -> tuple[str, list[int]]:
    text = "".join(draw(st.lists(TOKENS, max_size=60)))
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=12)))
    return text, cuts


@settings(max_examples=400, deadline=None)
@given(text_and_cuts())
def test_splitting_anywhere_gives_what_feeding_whole_gives(case: tuple[str, list[int]]) -> None:
    text, cuts = case
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=False)]
    whole = collapse(text)
    assert feed_all(Terminal(), pieces) == whole
    assert feed_all(GeneralOnly(), pieces) == whole  # the fast path changes nothing


@settings(max_examples=200, deadline=None)
@given(text_and_cuts())
def test_partial_and_close_agree(case: tuple[str, list[int]]) -> None:
    """What close() hands out is what partial showed (plus the newlines of held lines)."""
    text, cuts = case
    term = Terminal()
    for a, b in zip([0, *cuts], [*cuts, len(text)], strict=False):
        term.feed(text[a:b])
    partial = term.partial
    assert not partial.endswith("\n")
    rest = term.close()
    if not text.endswith("\r") and not text.endswith("\x1b") and not text.endswith("\x1b["):
        assert rest.rstrip("\n") == partial
