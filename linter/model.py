"""The proxy model: what a deployment does with a request, the same for all four servers.

Front ends build it from their syntax trees (`linter/<server>/build.py`); cross-server rules, `trace`
and `routes` read it. It is plain data:

- `Site`: one virtual server (nginx `server {}`, Apache `<VirtualHost>`, a Caddy site block, an
  HAProxy frontend): names, listeners, and its routes in the order the server evaluates them.
- `Route`: which requests it matches (`Match` on the path, an optional `Condition` such as a request
  method), what it does (`Action`), and the response headers it adds (`HeaderOp`s).
- `Action`: proxy to an upstream (and what URI the upstream receives), answer with a status/body/
  content type, redirect, or serve static files.
- `HeaderOp`: add/set/remove one response header, on which responses (status set; responses relayed
  from the upstream and/or responses the proxy makes itself), under which condition.

Every element keeps the `Span` of the directive it comes from. Route selection is server specific
(`Site.selection` names the policy; the function is in `linter.select`).

What a builder (`linter/<server>/build.py`, `build(tree, options) -> Config`) must fill in, because
the cross-server rules in rules/ read exactly this:

- `Route.headers`: response HeaderOps in the order the server applies them, with `mode`
  (add appends beside an upstream value, set replaces it, remove deletes), `statuses`,
  `on_proxied` / `on_generated` set to the server's real semantics; `Site.headers` for site level.
- `Action.uri` ("original" only when the upstream gets the client's bytes untouched) with a
  `uri_reason` in words and `uri_span`.
- `Action.request_headers`: lower-cased names the proxy sends upstream, including ones the server
  adds by itself (Apache mod_proxy's X-Forwarded-For, Caddy's X-Forwarded-*); "host" only when
  the client's Host is passed on.
- `Route.max_body_size` (None when unlimited or unknown), `facts["body_size_directive"]` (the
  Directive that set it, None for the default) and `facts["body_size_unseen_parent"]`.
- `Route.condition` with `methods` when the route depends on the request method only.
- `Route.access_restricted` for allow/deny/auth; `Route.facts["upstream_down_status"]` and
  `facts["error_content_type"]` for what the proxy answers when the upstream is down.
"""
from __future__ import annotations

import re
import signal
import threading
from dataclasses import dataclass, field
from typing import Optional

from linter.syntax import Span, Tree, Unresolved

MATRIX_PREFIXES = ("/_matrix", "/_synapse", "/_dendrite", "/_conduwuit", "/_continuwuity")
WELL_KNOWN_SERVER = "/.well-known/matrix/server"
WELL_KNOWN_CLIENT = "/.well-known/matrix/client"


@dataclass(frozen=True)
class Unknown:
    """A region of the configuration the linter cannot see, at the position where it applies.

    An unresolved include inside a location, a server or the http block; or the context a snippet
    is written for (the file that includes it). Whatever such a region could contain is "may
    exist": a rule that would claim an absence passes the route's `unknowns` to its Finding
    (`unless=`), and the engine reports it as depending on them, at severity info.
    """

    span: Span
    what: str                 # for messages: "`/config/nginx/proxy.conf` (not found)"

    @classmethod
    def from_unresolved(cls, u: Unresolved) -> "Unknown":
        return cls(u.span, f"`{u.target}` ({u.reason})")

    @classmethod
    def including_context(cls, path: str) -> "Unknown":
        return cls(Span.point(path, 1, 1), f"the configuration that includes `{path}`")


def distinct_unknowns(unknowns) -> list:
    """Each unseen region once, in the order first met (closest scope first)."""
    return list(dict.fromkeys(unknowns or ()))


@dataclass
class Listen:
    port: Optional[int]
    address: Optional[str] = None        # None: every address
    tls: bool = False
    default: bool = False
    span: Optional[Span] = None

    @property
    def public(self) -> bool:
        """False only for listeners bound to loopback or a unix socket."""
        a = (self.address or "").strip("[]").lower()
        return not (a.startswith("127.") or a in ("::1", "localhost") or a.startswith("unix:"))


@dataclass
class Match:
    """Which request paths a route matches.

    kind: "exact", "prefix", "regex", or "any". `text` is the match as written, for display.
    """

    kind: str
    pattern: str = ""
    case_sensitive: bool = True
    text: str = ""

    def matches(self, path: str) -> bool:
        if self.kind == "any":
            return True
        if self.kind == "exact":
            return path == self.pattern if self.case_sensitive else path.lower() == self.pattern.lower()
        if self.kind == "prefix":
            if self.case_sensitive:
                return path.startswith(self.pattern)
            return path.lower().startswith(self.pattern.lower())
        if self.kind == "regex":
            rx = compile_regex(self.pattern, self.case_sensitive)
            return bool(rx and rx.search(path))
        return False

    def mentions_matrix(self) -> bool:
        """Whether the match as written names a Matrix API prefix."""
        if self.kind in ("exact", "prefix"):
            return self.pattern.startswith(MATRIX_PREFIXES)
        if self.kind == "regex":
            return any(p.lstrip("/") in self.pattern for p in MATRIX_PREFIXES)
        return False

    def __str__(self) -> str:
        return self.text or f"{self.kind} {self.pattern}".strip()


_regex_cache: dict = {}
REGEX_BUDGET = 0.25     # CPU seconds one search of a backtracking-prone pattern may take


def compile_regex(pattern: str, case_sensitive: bool = True):
    """PCRE-ish pattern to a compiled regex; None when Python cannot read it.

    A pattern that can backtrack catastrophically (`(.*.*.*)x`, `(a+)+b`) comes back wrapped in
    `BoundedPattern`, whose searches stop after REGEX_BUDGET of CPU time: a config must not be able
    to hang the linter. PCRE gives up too (its match limit), and the request then matches nothing.
    """
    key = (pattern, case_sensitive)
    if key not in _regex_cache:
        py = re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", pattern)  # PCRE named groups
        try:
            rx = re.compile(py, 0 if case_sensitive else re.I)
        except (re.error, RecursionError, OverflowError):
            # Python's parser recurses per nesting level: 500 nested groups cannot be read, and
            # what the model cannot read it leaves undecided.
            rx = None
        _regex_cache[key] = BoundedPattern(rx) if rx is not None and _may_backtrack(py) else rx
    return _regex_cache[key]


def _may_backtrack(pattern: str) -> bool:
    """Two or more repeats (`*`, `+`, `{n,m}`), the shape every catastrophic pattern has; a
    cheap over-estimate, since bounding a search costs two system calls."""
    return len(re.findall(r"(?<!\\)(?:[*+]|\{\d*,?\d*\})", pattern)) >= 2


class _OutOfBudget(Exception):
    pass


def _out_of_budget(signum, frame):
    raise _OutOfBudget


class BoundedPattern:
    """A compiled pattern whose search, match, fullmatch and sub give up (return None: no match,
    or for sub an unknown value) after REGEX_BUDGET of CPU time; once it has given up it answers
    None at once."""

    __slots__ = ("rx", "gave_up")

    def __init__(self, rx):
        self.rx = rx
        self.gave_up = False

    def search(self, text, *args):
        return self._bounded(self.rx.search, text, *args)

    def match(self, text, *args):
        return self._bounded(self.rx.match, text, *args)

    def fullmatch(self, text, *args):
        return self._bounded(self.rx.fullmatch, text, *args)

    def sub(self, repl, text, count=0):
        """The substituted text, or None (value unknown) when the budget ran out."""
        return self._bounded(self.rx.sub, repl, text, count)

    def __getattr__(self, name):        # pattern, groups, groupindex, flags
        return getattr(self.rx, name)

    def _bounded(self, method, *args):
        if self.gave_up:
            return None
        if threading.current_thread() is not threading.main_thread():
            return method(*args)        # signals reach the main thread only: unbounded here
        # A CPU-time timer (SIGVTALRM), so a caller's own SIGALRM timeout keeps working; the
        # caller's handler and timer are put back afterwards.
        previous = signal.signal(signal.SIGVTALRM, _out_of_budget)
        outer = signal.setitimer(signal.ITIMER_VIRTUAL, REGEX_BUDGET)
        try:
            try:
                return method(*args)
            finally:
                signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        except _OutOfBudget:        # also when the timer fires just as the search returns
            self.gave_up = True
            return None
        finally:
            signal.signal(signal.SIGVTALRM, previous)
            if outer[0]:
                signal.setitimer(signal.ITIMER_VIRTUAL, *outer)


@dataclass
class Condition:
    """A condition on the request a route depends on (nginx `if`, an HAProxy ACL, a Caddy matcher).

    `methods` is set when the condition is exactly "the method is one of these"; anything the model
    cannot decide leaves it None and is reported as a condition, never guessed.
    """

    text: str
    methods: Optional[frozenset] = None
    span: Optional[Span] = None

    def holds(self, method: str) -> Optional[bool]:
        if self.methods is None:
            return None
        return method.upper() in self.methods


@dataclass
class HeaderOp:
    """One response header operation.

    mode: "add" appends (a value the upstream sent stays: two headers), "set" replaces any value
    already there, "join" appends to an existing header's value with ", " (one header: Apache's
    `Header append`), "remove" deletes the header. `statuses` None means every status.
    `on_proxied`: applies to responses relayed from the upstream; `on_generated`: applies to
    responses the proxy makes itself (its own answers, redirects, and its errors such as 413/502).
    """

    name: str
    value: Optional[str]
    mode: str = "add"
    span: Optional[Span] = None
    statuses: Optional[frozenset] = None
    on_proxied: bool = True
    on_generated: bool = True
    condition: Optional[str] = None      # undecidable condition as written (Apache env=, expr=, ...)
    # Servers differ on a value that comes out empty: nginx adds nothing, Apache and HAProxy
    # send an empty header.
    keep_empty: bool = False
    source: str = ""                     # the directive as written, for messages

    @property
    def key(self) -> str:
        return self.name.lower()

    def applies(self, status: int, generated: bool) -> bool:
        if generated and not self.on_generated:
            return False
        if not generated and not self.on_proxied:
            return False
        return self.statuses is None or status in self.statuses

    @property
    def always(self) -> bool:
        return self.statuses is None and self.on_proxied and self.on_generated


@dataclass
class Action:
    """What a route does.

    kind: "proxy" | "respond" | "redirect" | "static" | "none" (nothing decided here: the server's
    default handling, usually static files or 404).

    For "proxy", `uri` says what the upstream receives as the request URI:
      "original"    the bytes the client sent, untouched;
      "replaced"    decoded and normalised, the matched prefix replaced by `uri_part`;
      "normalized"  decoded and normalised (e.g. after a rewrite), no prefix replacement;
      "variable"    built from variables at run time (`uri_part` holds the expression).
    `uri_reason` says why, in words, pointing at `uri_span`.
    """

    kind: str
    span: Optional[Span] = None
    upstream: Optional[str] = None
    uri: str = "original"
    uri_part: Optional[str] = None
    uri_reason: str = ""
    uri_span: Optional[Span] = None
    status: Optional[int] = None
    body: Optional[str] = None
    content_type: Optional[str] = None
    location: Optional[str] = None       # redirect target
    root: Optional[str] = None           # static: the directory the files come from
    alias: bool = False                  # static: `root` replaces the matched prefix (nginx alias)
    # Request headers sent upstream (name lower-cased -> value as written); None values mean
    # "the server's default". `request_headers_span` points at the directives that set them.
    request_headers: dict = field(default_factory=dict)
    # The unseen regions that could add request headers, when the server narrows them down
    # (nginx: a level that sets proxy_set_header replaces all above it); None: the route's unknowns.
    request_headers_unknowns: Optional[list] = None
    # proxy: what the upstream's X-Forwarded-For holds. "append": the client's own header with
    # the client address after it (a client can put any address first: nginx
    # $proxy_add_x_forwarded_for, Apache mod_proxy, HAProxy `option forwardfor` keep what the
    # client sent); "replace": the client address only; "absent": the proxy adds none of its
    # own (nginx without proxy_set_header, Apache `ProxyAddHeaders Off`: a header the client
    # sent still passes through untouched); None: unknown.
    # `forwarded_for_span` points at the directive (or the proxy directive, for a default).
    forwarded_for: Optional[str] = None
    forwarded_for_span: Optional[Span] = None


@dataclass
class Route:
    match: Match
    action: Action
    span: Optional[Span] = None
    headers: list = field(default_factory=list)        # HeaderOps in effect, in order
    condition: Optional[Condition] = None
    group: int = 0                 # routes sharing a group are variants of one location (nginx `if`)
    parent: Optional[int] = None   # group of the enclosing route (nested locations)
    # Headers inherited from outer levels that this level silently drops, with where they were set.
    dropped_headers: list = field(default_factory=list)
    fallback: bool = False         # the server's default handling (Site.fallback), not a configured route
    max_body_size: Optional[int] = None      # bytes; None = unknown / unlimited
    access_restricted: bool = False          # allow/deny, auth, internal: not open to everyone
    phase: str = "location"                  # "server": runs before location selection
    facts: dict = field(default_factory=dict)  # server-specific details for rules and trace
    # Unseen regions whose directives would apply to this route (its own block, the enclosing
    # blocks, the site, the global level): headers, forwarding, limits, access rules may be there.
    unknowns: list = field(default_factory=list)

    def serves_matrix(self) -> bool:
        return self.match.mentions_matrix() or self.facts.get("selected_for_matrix", False)


@dataclass
class Site:
    server: str
    names: list = field(default_factory=list)
    listens: list = field(default_factory=list)
    span: Optional[Span] = None
    routes: list = field(default_factory=list)
    # Header operations at site level: what a request no route handles gets (nginx server block).
    headers: list = field(default_factory=list)
    selection: str = "first-match"        # route selection policy, see linter.select
    # The server's default handling of a request no route takes, as routes tried in order (the
    # first whose condition holds answers): nginx's static handler (404, or 405 for other
    # methods), Apache's 404, Caddy's empty 200, HAProxy's 503. Not in `routes`: rules that walk
    # the routes do not see it; `select` answers with it, so every request has an outcome.
    # Each has `Route.fallback` set and its span at the site.
    fallback: list = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    # Unseen regions that could add routes or site-level settings to this site.
    unknowns: list = field(default_factory=list)

    @property
    def tls(self) -> bool:
        return any(l.tls for l in self.listens)

    @property
    def public(self) -> bool:
        return not self.listens or any(l.public for l in self.listens)

    def group_routes(self, group: int) -> list:
        return [r for r in self.routes if r.group == group]


@dataclass
class Config:
    """One parsed configuration with its model: what every rule receives."""

    server: str
    tree: Tree
    sites: list = field(default_factory=list)
    options: dict = field(default_factory=dict)   # e.g. {"nginx_version": (1, 22, 1)}
    notes: list = field(default_factory=list)     # things the builder could not model, for trace
    # Unseen regions that could add whole sites (an unresolved include at the global level).
    unknowns: list = field(default_factory=list)
    # The homeserver's own configuration (`linter.homeserver.Homeserver`), when one was given.
    homeserver: Optional[object] = None


def small_int(digits: str) -> int:
    """ASCII digits as an int; more than 18 of them are 10**18 ("too large" to every server),
    never a 4,300-digit conversion that Python refuses (ValueError) or spends seconds on."""
    return int(digits) if len(digits) <= 18 else 10**18


def parse_size(text: str) -> Optional[int]:
    """nginx/Caddy style size ("1m", "50M", "512k", "0") to bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)[bB]?\s*", text or "")
    if not m or len(m.group(1)) > 18:
        return None     # over 18 digits: more than the servers accept (nginx: "invalid value")
    mult = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2).lower()]
    return int(m.group(1)) * mult
