"""The lark "lexer" for grammars/caddyfile.lark: the tokens are already made by lex.py and
expand.py, lark only groups them. A module of its own because lark's parser cache pickles
the lexer class by name, and importing this module imports lark (parse.py does it lazily).
"""
from lark.lexer import Lexer


class GivenTokens(Lexer):
    def __init__(self, lexer_conf):
        pass

    def lex(self, data):
        return iter(data)
