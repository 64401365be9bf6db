"""Text whose every character knows where it was written.

httpd never parses the bytes of a file directly: it joins backslash-newline continuations
first (`ap_cfg_getline`), and mod_macro re-reads macro bodies after substituting arguments.
The lark grammar therefore parses a *derived* text, and `Mapped` carries, for each run of that
text, the place in a real file it came from, so every token still gets an exact `Span`.

A `Mapped` is a text plus a list of segments `(start, end, origin, o_start, o_end, exact)`
covering it without gaps. An exact segment is a verbatim copy (character i of the run is
character `o_start + i` of the origin); an inexact one stands for text that is not written
anywhere as such (a substituted macro argument, a synthetic newline) and maps as a whole onto
`[o_start, o_end)` -- the `$arg` it replaced, say.
"""
from __future__ import annotations

import bisect
import re
from typing import Iterable, Optional

from ..syntax import Span

_CONTINUATION = re.compile(r"\\\r?\n")


class Origin:
    """One real file (or string): its path, its text and where its lines start."""

    __slots__ = ("path", "text", "_line_starts")

    def __init__(self, path: str, text: str):
        self.path = path
        self.text = text
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1


class Mapped:
    __slots__ = ("text", "segments", "_starts")

    def __init__(self, text: str, segments: list):
        self.text = text
        self.segments = segments
        self._starts = [s[0] for s in segments]

    @classmethod
    def of(cls, origin: Origin) -> "Mapped":
        n = len(origin.text)
        return cls(origin.text, [(0, n, origin, 0, n, True)] if n else [])

    @classmethod
    def synthetic(cls, text: str, origin: Origin, o_start: int, o_end: int) -> "Mapped":
        """`text` standing for origin[o_start:o_end] as a whole (not character by character)."""
        return cls(text, [(0, len(text), origin, o_start, o_end, False)] if text else [])

    @classmethod
    def join(cls, parts: Iterable["Mapped"]) -> "Mapped":
        texts, segments, shift = [], [], 0
        for part in parts:
            texts.append(part.text)
            for start, end, origin, o_start, o_end, exact in part.segments:
                segments.append((start + shift, end + shift, origin, o_start, o_end, exact))
            shift += len(part.text)
        return cls("".join(texts), segments)

    def slice(self, a: int, b: int) -> "Mapped":
        if a >= b:
            return Mapped("", [])
        out = []
        i = max(0, bisect.bisect_right(self._starts, a) - 1)
        while i < len(self.segments):
            start, end, origin, o_start, o_end, exact = self.segments[i]
            if start >= b:
                break
            lo, hi = max(start, a), min(end, b)
            if lo < hi:
                if exact:
                    out.append((lo - a, hi - a, origin, o_start + lo - start, o_start + hi - start, True))
                else:
                    out.append((lo - a, hi - a, origin, o_start, o_end, False))
            i += 1
        return Mapped(self.text[a:b], out)

    def _segment(self, index: int):
        if not self.segments:
            return None
        i = bisect.bisect_right(self._starts, index) - 1
        return self.segments[max(0, min(i, len(self.segments) - 1))]

    def locate(self, index: int) -> tuple[Optional[Origin], int]:
        """Origin and offset of the character at `index` (a start position)."""
        seg = self._segment(index)
        if seg is None:
            return None, 0
        start, end, origin, o_start, o_end, exact = seg
        if exact:
            return origin, min(o_start + max(0, index - start), o_end)
        return origin, o_start

    def locate_end(self, index: int) -> tuple[Optional[Origin], int]:
        """Origin and offset just past the character at `index - 1` (an exclusive end)."""
        seg = self._segment(max(0, index - 1))
        if seg is None:
            return None, 0
        start, end, origin, o_start, o_end, exact = seg
        if exact:
            return origin, min(o_start + max(0, index - start), o_end)
        return origin, o_end

    def span(self, a: int, b: int, fallback_path: str = "<string>") -> Span:
        """The Span of text[a:b] in the file it was written in."""
        if len(self.segments) == 1 and self.segments[0][5] and self.segments[0][3] == 0:
            origin = self.segments[0][2]  # a file without continuations: offsets are its own
            line, column = origin.position(a)
            end_line, end_column = origin.position(b) if b > a else (line, column + 1)
            return Span(origin.path, line, column, end_line, end_column)
        origin, offset = self.locate(a)
        if origin is None:
            return Span(fallback_path, 1, 1, 1, 2)
        line, column = origin.position(offset)
        end_origin, end_offset = self.locate_end(b) if b > a else (origin, offset + 1)
        if end_origin is not origin or end_offset <= offset:
            return Span(origin.path, line, column, line, column + 1)
        end_line, end_column = origin.position(end_offset)
        return Span(origin.path, line, column, end_line, end_column)


def join_continuations(mapped: Mapped) -> Mapped:
    """Remove every backslash-newline, as httpd does before it splits a line into words.

    Nothing is put in their place: `a\\<newline>b` is the word `ab`, and the indentation of
    the continued line stays part of the logical line.
    """
    pieces, last = [], 0
    for m in _CONTINUATION.finditer(mapped.text):
        pieces.append(mapped.slice(last, m.start()))
        last = m.end()
    if not pieces:
        return mapped
    pieces.append(mapped.slice(last, len(mapped.text)))
    return Mapped.join(pieces)


def ensure_final_newline(mapped: Mapped, origin: Origin) -> Mapped:
    """The grammar ends every statement with a newline; give the last line one if it lacks it."""
    if not mapped.text or mapped.text.endswith("\n"):
        return mapped
    end = len(origin.text)
    return Mapped.join([mapped, Mapped.synthetic("\n", origin, end, end)])
