"""The parsed form of an ACL condition (`if` / `unless` ...), as stored in `extra["condition"]`.

haproxy (`src/acl.c`, `parse_acl_cond`) reads the words after `if`/`unless` as an OR of
AND-groups: `||` or `or` (any case) starts a new group, every other word is an ACL name,
`{ ... }` is an anonymous ACL (up to the first `}` word), and each `!` prefix toggles the
negation of the next term (`!x`, `! x`, `!{ ... }`, `!!x` == `x`).

    use_backend matrix if host_matrix path_matrix || !is_local or { path_beg /_synapse }

gives `Condition([[(False, "host_matrix"), (False, "path_matrix")],
                  [(True, "is_local")],
                  [(False, ("path_beg", "/_synapse"))]])` with keyword "if".
"""
from __future__ import annotations

from typing import Union

from ..syntax import Span

Acl = Union[str, tuple]     # a named ACL, or the words of an anonymous one


class AclTerm(tuple):
    """`(negated, acl)`: a 2-tuple (compares equal to a plain tuple), plus `.span`."""

    def __new__(cls, negated: bool, acl: Acl, span: Span):
        term = super().__new__(cls, (negated, acl))
        term.span = span
        return term

    @property
    def negated(self) -> bool:
        return self[0]

    @property
    def acl(self) -> Acl:
        return self[1]

    @property
    def anonymous(self) -> bool:
        return isinstance(self[1], tuple)


class Condition(list):
    """A list of OR-terms, each a list of `AclTerm`s that must all hold.

    `keyword` is "if" or "unless" (for "unless" the whole OR is negated), `index` is where that
    keyword is in `Directive.args`, `span` covers the condition from that keyword on.
    """

    def __init__(self, terms, keyword: str, index: int, span: Span):
        super().__init__(terms)
        self.keyword = keyword
        self.index = index
        self.span = span

    def acl_names(self) -> list[str]:
        """The named ACLs it uses, in order."""
        return [term.acl for group in self for term in group if not term.anonymous]
