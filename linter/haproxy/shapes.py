"""What one AND-group of an HAProxy condition becomes in the model: a `Match` on the path, a
`Condition` for what is left, and the test each route keeps (routing.py evaluates it).

The group's terms are sorted by what they test. Host, TLS and port tests are decided by the
site (build.py makes one site per host); path tests become the Match; method tests become
`Condition.methods`; anything else makes the Condition undecidable (reported, never guessed).
A path ACL with several patterns (`path_beg /_matrix /_synapse/client`, or several `acl` lines
of one name) gives one route per pattern, so that each route has a plain prefix, exact or regex
Match; several path ACLs ANDed (or a negated one) give one regex Match that needs them all.
"""
from __future__ import annotations

from typing import Optional

from linter.haproxy.conditions import ALL_METHODS, All, Any, Context, Not, Term, evaluate, kinds, pattern_regex
from linter.model import Condition, Match

MAX_PATTERNS = 64


def expr(negated: bool, item):
    return Not(item) if negated else item


def has_unknown(exprs: list, ctx0: Context) -> bool:
    """Whether some expression depends on more than the request's path and method."""
    return any(evaluate(e, ctx0) is None and kinds(e) - {"path", "method", "const"} for e in exprs)


def shapes(conj: list, ctx0: Context, text: str, span, guarded: bool):
    """(Match, conjuncts to test, Condition) for each route the AND-group `conj` gives.

    `conj` is a list of (negated, expression); `ctx0` what the site knows; `guarded` says an
    earlier `allow` with an undecidable condition also stands in the way."""
    path_pos, path_neg, methods, unknown = [], [], [], []
    for neg, item in conj:
        found = kinds(item) - {"const"}
        if not found:
            continue
        if found <= {"host", "tls", "port"}:
            if evaluate(expr(neg, item), ctx0) is None:
                unknown.append((neg, item))
        elif found == {"path"}:
            (path_neg if neg else path_pos).append(item)
        elif found == {"method"}:
            methods.append((neg, item))
        else:
            unknown.append((neg, item))
    condition = None
    if unknown or guarded:
        condition = Condition(text, None, span)
    elif methods:
        allowed = All([expr(n, e) for n, e in methods])
        condition = Condition(text, frozenset(m for m in ALL_METHODS
                                              if evaluate(allowed, Context(method=m)) is True), span)
    alternatives = _flat_terms(path_pos[0]) if len(path_pos) == 1 else None
    if alternatives is None or sum(len(t.patterns) for t in alternatives) > MAX_PATTERNS:
        yield composite_match(path_pos, path_neg, text), conj, condition
        return
    for t in alternatives:
        for pattern in t.patterns:
            alt = t.with_pattern(pattern)
            test_conj = [(n, alt if e is path_pos[0] else e) for n, e in conj]
            match = simple_match(alt) if not path_neg else composite_match([alt], path_neg, text)
            yield match, test_conj, condition


def _flat_terms(item) -> Optional[list]:
    if isinstance(item, Term):
        return [item]
    if isinstance(item, Any) and all(isinstance(i, Term) for i in item.items):
        return list(item.items)
    return None


def simple_match(t: Term) -> Match:
    pattern = t.patterns[0]
    text = f"{t.name}: " if t.name else ""
    text += " ".join(w for w in (t.criterion, t.flags, pattern) if w) if t.criterion else t.text
    kind = {"str": "exact", "beg": "prefix", "reg": "regex"}.get(t.how)
    if kind is None:
        return Match("regex", pattern_regex(t.how, pattern), not t.nocase, text=text)
    return Match(kind, pattern, not t.nocase, text=text)


def composite_match(positive: list, negative: list, text: str) -> Match:
    if not positive and not negative:
        return Match("any", text=text or "(every request)")
    parts = [f"(?=[\\s\\S]*?{path_regex(e)})" for e in positive]
    parts += [f"(?![\\s\\S]*?{path_regex(e)})" for e in negative]
    return Match("regex", "^" + "".join(parts), True, text=text)


def path_regex(item) -> str:
    """A regex that `search`es true exactly when a path-only expression holds.

    Lookaheads are anchored with `^`: a negative one tried further along the path would be
    weaker than "nowhere in the path"."""
    if isinstance(item, Term):
        alts = "|".join(pattern_regex(item.how, p) for p in item.patterns)
        return f"(?i:{alts})" if item.nocase else f"(?:{alts})"
    if isinstance(item, Any):
        return "(?:" + "|".join(path_regex(i) for i in item.items) + ")"
    if isinstance(item, All):
        return "(?:^" + "".join(f"(?=[\\s\\S]*?{path_regex(i)})" for i in item.items) + ")"
    return f"(?:^(?![\\s\\S]*?{path_regex(item.item)}))"
