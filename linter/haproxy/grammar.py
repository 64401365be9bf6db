"""The lark side of the HAProxy front end: grammars/haproxy.lark and its token factory.

This module imports lark at its top, so parse.py imports it only when it has a file to parse
(startup time is benchmarked). The parser is built once per process, with lark's grammar cache.
"""
from __future__ import annotations

import os

from lark import Lark, Token
from lark.lexer import Lexer

import linter.grammars

_PARSER = None


class TokenList(Lexer):
    """lark's custom lexer: the tokens are made beforehand (lexer.py splits HAProxy lines)."""

    def __init__(self, lexer_conf):
        pass

    def lex(self, tokens):
        return iter(tokens)


def parser() -> Lark:
    global _PARSER
    if _PARSER is None:
        path = os.path.join(os.path.dirname(linter.grammars.__file__), "haproxy.lark")
        with open(path, encoding="utf-8") as f:
            _PARSER = Lark(f.read(), parser="lalr", lexer=TokenList, cache=True)
    return _PARSER


def token(kind: str, value: str, index: int, line: int, column: int, end_column: int) -> Token:
    """A token for the grammar; `start_pos` carries the index of its word (parse._File.words)."""
    return Token(kind, value, start_pos=index, line=line, column=column,
                 end_line=line, end_column=end_column)
