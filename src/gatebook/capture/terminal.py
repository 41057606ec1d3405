"""What a terminal would show: a stream's raw text turned into the lines it leaves on screen.

A progress bar redraws its line with ``\\r`` hundreds of thousands of times; stored raw, a
tqdm loop of 200,000 steps is 25 MB of redraws. :class:`Terminal` keeps the state of the
lines still being drawn and hands out each line once, in its final state, when the cursor
leaves it for good. It is fed the text of one stream in chunks cut anywhere (inside a
``\\r\\n`` or an escape sequence too): feeding a text whole or in pieces gives the same lines.

What it interprets, as a terminal does:

* ``\\n`` ends the line (``\\r\\n`` too); ``\\r`` moves to column 0 and the text written next
  *overwrites* the line from its start: a shorter text leaves the end of the longer one
  visible (``"abcdef\\rXY"`` shows ``XYcdef``). tqdm always rewrites its whole line, padded
  with spaces, so for it this is the same as keeping the last redraw; emulating the overwrite
  also keeps what a terminal shows for tools that redraw only the start of a line. A line
  that was redrawn loses its trailing spaces (the padding of the redraws).
* ``\\b`` moves one column left.
* CSI cursor and erase sequences: ``ESC[nA`` / ``ESC[nF`` (up: tqdm's nested bars),
  ``ESC[nB`` / ``ESC[nE`` (down), ``ESC[nC`` / ``ESC[nD`` / ``ESC[nG`` (columns), ``ESC[K``
  (erase in line, modes 0/1/2). Lines the cursor moved up to stay editable: once a stream
  moved up N lines, its last N + 1 lines are held until they scroll out of that reach.
* Colours (``ESC[...m``) are kept, as text; every other escape sequence (cursor visibility,
  screen clearing, absolute positions, window titles) is dropped: a log has no screen.

A line longer than ``line_max`` characters is handed out in pieces (a program printing dots
without a newline for a week holds no unbounded line).
"""

from __future__ import annotations

import re

LINE_MAX = 65536
DEPTH_MAX = 64
"""At most this many lines above the cursor stay editable (``ESC[nA`` further up stops there)."""

_ANY = re.compile(r"[\n\r\b\x1b]")
_ESC = re.compile(r"\x1b(?:\[([0-?]*)[ -/]*([@-~])|\][^\x07\x1b\n]*(?:\x07|\x1b\\)|[ -/]*(?![\[\]])[0-~])")
_ESC_OPEN = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b\n]*\x1b?|[ -/]*)")
"""The start of an escape sequence that the next chunk may complete."""
_ESC_CARRY_MAX = 4096


class Terminal:
    """One stream's screen lines. :meth:`feed` returns the lines that became final (each with
    its ``\\n``); :attr:`partial` is what is still being drawn; :meth:`close` ends the stream."""

    def __init__(self, *, line_max: int = LINE_MAX) -> None:
        self.line_max = line_max
        self._rows = [""]
        self._dirty = [False]  # the row was redrawn: its trailing spaces go
        self._r = 0  # cursor row (index into _rows) and column
        self._c = 0
        self._depth = 0  # how many rows above the bottom stay reachable
        self._carry = ""
        self._out: list[str] = []

    # -- interface --------------------------------------------------------------------------
    def feed(self, text: str) -> str:
        """Take the next raw text of the stream; return the lines it made final."""
        if self._carry:
            text, self._carry = self._carry + text, ""
        if text.endswith("\r"):  # may be the start of "\r\n": decided by the next chunk
            text, self._carry = text[:-1], "\r"
        if not text:
            return ""
        if self._depth == 0 and "\x1b" not in text and "\b" not in text:
            self._feed_simple(text)
        else:
            self._feed_general(text)
        self._split_long()
        out, self._out = "".join(self._out), []
        return out

    @property
    def partial(self) -> str:
        """The lines still being drawn, as they look now ("" when none; never ends with \\n)."""
        rows = self._rows
        if len(rows) == 1:
            return self._show(0)
        return "\n".join(self._show(i) for i in range(len(rows))).rstrip("\n")

    def close(self) -> str:
        """The end of the stream: the lines still held, as they stand (no newline is added
        to an unfinished last line)."""
        carry, self._carry = self._carry, ""
        if carry == "\r":
            self._cr()
        elif carry:  # an escape sequence that never completed: dropped
            pass
        rows = [self._show(i) for i in range(len(self._rows))]
        self._rows, self._dirty, self._r, self._c = [""], [False], 0, 0
        return "\n".join(rows)

    # -- the simple case: no escape sequence, no backspace, one editable row -----------------
    def _feed_simple(self, text: str) -> None:
        pieces = text.split("\n")
        for piece in pieces[:-1]:
            if piece.endswith("\r"):  # "\r\n": a newline
                piece = piece[:-1]
            if piece:
                self._write_redraws(piece)
            self._newline()
        if pieces[-1]:
            self._write_redraws(pieces[-1])

    def _write_redraws(self, piece: str) -> None:
        """Write a piece of one line that may hold ``\\r`` (no other control character)."""
        if "\r" not in piece:
            self._write(piece)
            return
        parts = piece.split("\r")
        if parts[0]:
            self._write(parts[0])
        # Every later part starts at column 0 and overwrites the start of what is there:
        # the result is the last part, then what longer earlier ones (and the row) show past it.
        last = parts[-1]
        shown = last
        for part in reversed(parts[1:-1]):
            if len(part) > len(shown):
                shown += part[len(shown):]
        row = self._rows[self._r]
        if len(row) > len(shown):
            shown += row[len(shown):]
        self._rows[self._r] = shown
        self._dirty[self._r] = True
        self._c = len(last)

    # -- the general case ----------------------------------------------------------------------
    def _feed_general(self, text: str) -> None:
        i, n = 0, len(text)
        while i < n:
            m = _ANY.search(text, i)
            if m is None:
                self._write(text[i:])
                return
            j = m.start()
            if j > i:
                self._write(text[i:j])
            ch = text[j]
            i = j + 1
            if ch == "\n":
                self._newline()
            elif ch == "\r":
                if i < n and text[i] == "\n":
                    continue  # "\r\n": the newline does it
                self._cr()
            elif ch == "\b":
                if self._c > 0:
                    self._c -= 1
                self._dirty[self._r] = True
            else:
                esc = _ESC.match(text, j)
                if esc is None:
                    if _ESC_OPEN.fullmatch(text, j) and n - j <= _ESC_CARRY_MAX:
                        self._carry = text[j:] + self._carry
                        return
                    continue  # a lone ESC: dropped
                i = esc.end()
                if esc.group(2) is not None:
                    self._csi(esc.group(1), esc.group(2), esc.group(0))

    def _csi(self, params: str, final: str, whole: str) -> None:
        if final == "m":  # colours: kept as text
            self._write(whole)
            return
        if params.startswith("?") or final not in "ABCDEFGK":
            return
        try:
            num = int(params.split(";")[0] or 0)
        except ValueError:
            return
        count = max(num, 1)
        self._dirty[self._r] = True
        if final in "AF":
            self._r = max(0, self._r - count)
            self._depth = min(DEPTH_MAX, max(self._depth, count))
            if final == "F":
                self._c = 0
        elif final in "BE":
            self._r = min(len(self._rows) - 1, self._r + count)
            if final == "E":
                self._c = 0
        elif final == "C":
            self._c += count
        elif final == "D":
            self._c = max(0, self._c - count)
        elif final == "G":
            self._c = count - 1
        else:  # K: erase in line
            row, c = self._rows[self._r], self._c
            if num == 0:
                self._rows[self._r] = row[:c]
            elif num == 1:
                self._rows[self._r] = " " * (c + 1) + row[c + 1:]
            elif num == 2:
                self._rows[self._r] = ""
        self._dirty[self._r] = True

    # -- primitives --------------------------------------------------------------------------------
    def _write(self, s: str) -> None:
        r, c = self._r, self._c
        row = self._rows[r]
        if c == len(row):
            self._rows[r] = row + s
        elif c > len(row):
            self._rows[r] = row + " " * (c - len(row)) + s
        else:
            self._rows[r] = row[:c] + s + row[c + len(s):]
        self._c = c + len(s)

    def _cr(self) -> None:
        self._c = 0
        self._dirty[self._r] = True

    def _newline(self) -> None:
        self._c = 0
        if self._r < len(self._rows) - 1:
            self._r += 1
            return
        self._rows.append("")
        self._dirty.append(False)
        self._r += 1
        while len(self._rows) > self._depth + 1:  # out of the cursor's reach: final
            self._out.append(self._show(0) + "\n")
            del self._rows[0], self._dirty[0]
            self._r -= 1

    def _show(self, i: int) -> str:
        row = self._rows[i]
        return row.rstrip(" ") if self._dirty[i] else row

    def _split_long(self) -> None:
        """A bottom row longer than ``line_max`` is handed out as it stands (no newline)."""
        if self._depth or len(self._rows[0]) <= self.line_max:
            return
        self._out.append(self._show(0))
        self._c = max(0, self._c - len(self._rows[0]))
        self._rows[0], self._dirty[0] = "", False


def collapse(text: str) -> str:
    """``text`` as a terminal leaves it (the stored form of a whole stream)."""
    term = Terminal()
    return term.feed(text) + term.close()
