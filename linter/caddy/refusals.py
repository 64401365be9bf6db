"""What `caddy adapt` refuses in a Caddyfile whose syntax is fine: the checks on the parsed tree.

- Every directive of a site block, of the blocks whose body is a list of directives again
  (`handle`, `handle_path`, `route`, `handle_errors`, a named route `&(name)`, and the
  `handle_response` blocks of `reverse_proxy`, `php_fastcgi`, `forward_auth` and `intercept`)
  must be a directive Caddy knows: `STANDARD_DIRECTIVES` (Caddy 2.11's RegisterDirective /
  RegisterHandlerDirective calls) or one of `PLUGIN_DIRECTIVES`. Caddy says "unrecognized
  directive: X". Matcher definitions (`@name`) are not directives.
- The directive an `order` global option moves must be one of them too.
- Every option of the global options block must be one of `GLOBAL_OPTIONS` (RegisterGlobalOption
  calls; `pki`, `events` and `filesystem` are registered by their apps) or of
  `PLUGIN_GLOBAL_OPTIONS`: "unrecognized global option: X". A global options block whose `}` is
  missing swallows the sites after it, which then show up here as options named like addresses.
- Two site blocks with the same address (as written) on the same listener: "ambiguous site
  definition: X". Blocks with `bind` addresses that have none in common listen apart, which
  Caddy allows (httptype.go serversFromPairings).

Plugins: Caddy builds with plugins know more directives and global options. The user names a
build's extra directives (`--caddy-directive`, `caddy-directives` in the project configuration):
they reach the builder as `options["caddy_directives"]`, and `build` drops the refusals of those
names (`waive`; each unknown-directive error carries `caddy_directive`, the name it is about).
Such a directive stays opaque to the model: a handler that may answer (the walk says so). The
module-level `PLUGIN_DIRECTIVES` and `PLUGIN_GLOBAL_OPTIONS` are for programs that embed the
linter; they are empty: a standard build refuses every name not listed.

Caddy 1 directives written the Caddy 1 way (`cors`, `proxy /from to`, ...) are left to rule
MPL701 (caddy-v1-directive, severity error), which names their Caddy 2 replacement.

Not checked: names holding a `{$VAR}` the linter could not substitute (the server's environment
may make them anything), and the lines of imports that could not be read. A name written in a
file outside the checked tree is not quoted in the message (it could be a line of any file).
"""
from __future__ import annotations

from typing import Iterable, Optional

from linter.caddy.v1 import v1_leftover
from linter.syntax import ConfigError, Directive

# caddyconfig/httpcaddyfile (builtins.go, directives.go) and the handler modules' init()s,
# Caddy 2.11; checked with `caddy adapt` 2.11.7.
STANDARD_DIRECTIVES = frozenset("""
    abort acme_server basic_auth basicauth bind copy_response copy_response_headers encode
    error file_server forward_auth fs handle handle_errors handle_path header intercept invoke
    log log_append log_name log_skip map method metrics php_fastcgi push redir request_body
    request_header respond reverse_proxy rewrite root route skip_log templates timeouts tls
    tracing try_files uri vars
""".split())

# caddyconfig/httpcaddyfile/options.go init() plus pkiapp.go (pki), caddyevents (events) and
# caddyfs (filesystem); checked with `caddy adapt` 2.11.7.
GLOBAL_OPTIONS = frozenset("""
    acme_ca acme_ca_root acme_dns acme_eab admin auto_https cert_issuer cert_lifetime debug
    default_bind default_sni dns ech email events fallback_sni filesystem grace_period
    http_port https_port key_type local_certs log metrics ocsp_interval ocsp_stapling
    on_demand_tls order persist_config pki preferred_chains renew_interval
    renewal_window_ratio servers shutdown_delay skip_install_trust storage storage_check
    storage_clean_interval tls_resolvers
""".split())

# Directives and global options of plugins the checked configurations are meant for (see the
# module docstring). Empty: the standard build.
PLUGIN_DIRECTIVES: frozenset = frozenset()
PLUGIN_GLOBAL_OPTIONS: frozenset = frozenset()

# Blocks whose body Caddy parses as directives again (parseSegmentAsSubroute).
SUBROUTE_BLOCKS = frozenset({"handle", "handle_path", "route", "handle_errors"})
# Directives whose `handle_response` blocks hold directives (reverse_proxy's syntax).
HANDLE_RESPONSE_OWNERS = frozenset({"reverse_proxy", "php_fastcgi", "forward_auth", "intercept"})


def check(directives: list[Directive], outside: Iterable[str] = ()) -> list[ConfigError]:
    """The refusals of `caddy adapt` in a parsed Caddyfile (see the module docstring)."""
    checker = _Checker(set(outside))
    for d in directives:
        kind = d.extra.get("kind")
        if kind == "global":
            if not d.extra.get("misplaced"):    # parse.py said why it is no options block
                checker.global_options(d)
        elif d.extra.get("fragment"):
            # The body of a block we do not see, which may be a reverse_proxy's or a log's as
            # well as a site's: only the blocks that certainly hold directives are checked.
            checker.body(d.block or [], None, names=False)
        elif kind in ("site", "named_route"):
            checker.body(d.block or [], None)
    checker.ambiguous_sites([d for d in directives if d.extra.get("kind") == "site"])
    return checker.errors


class _Checker:
    def __init__(self, outside: set):
        self.outside = outside
        self.errors: list[ConfigError] = []

    def error(self, message: str, d: Directive, directive: Optional[str] = None) -> None:
        error = ConfigError(message, d.span.path, d.span.line, d.span.column)
        if directive is not None:
            error.caddy_directive = directive     # waived when the user's build has it (waive())
        self.errors.append(error)

    def _skip(self, d: Directive) -> bool:
        return bool(d.extra.get("unresolved")) or "{$" in d.name

    def _shown(self, d: Directive) -> Optional[str]:
        """The name to quote, or None for a line of a file outside the checked tree."""
        return None if d.span.path in self.outside else d.name

    def body(self, directives: list[Directive], parent: Optional[Directive],
             names: bool = True) -> None:
        """Check the directives of a body and of the blocks in it that hold directives too;
        with `names` False, not the names of the body's own directives."""
        # An explicit stack: blocks are nested at most MAX_NESTING deep (parse.py), but this
        # walk must not depend on it.
        stack = [(directives, parent, names)]
        while stack:
            body, parent, names = stack.pop()
            heredoc = False     # after a `<<` that started no heredoc (parse.py says so)
            for d in body:
                if self._skip(d) or d.name.startswith("@"):
                    continue
                if d.name not in STANDARD_DIRECTIVES and d.name not in PLUGIN_DIRECTIVES:
                    # not the lines meant as the heredoc's body; not the Caddy 1 leftovers
                    # rule MPL701 reports with their Caddy 2 replacement
                    if names and not heredoc and not v1_leftover(d):
                        self.unknown_directive(d, parent)
                    continue
                heredoc = bool(d.extra.get("heredoc_missed"))
                if d.block and d.name in SUBROUTE_BLOCKS:
                    stack.append((d.block, d, True))
                elif d.block and d.name in HANDLE_RESPONSE_OWNERS:
                    for child in d.block:
                        if child.name == "handle_response" and child.block:
                            stack.append((child.block, child, True))

    def unknown_directive(self, d: Directive, parent: Optional[Directive]) -> None:
        name = self._shown(d)
        if name is None:
            self.error("unrecognized directive, in a file outside the checked tree (not quoted): "
                       "is this file a Caddyfile?", d, d.name)
            return
        message = f"unrecognized directive: {name}"
        if name == "handle_response":
            message += (" (handle_response is a subdirective: it belongs inside a reverse_proxy "
                        "or intercept block)")
        elif _looks_like_address(name):
            if d.block is not None:
                message += (" (it looks like the address of a site: is the '}' that closes the "
                            "block before it missing?)")
            else:
                message += (" (did you mean to define a second site? Then every site needs braces "
                            "around its directives)")
        elif parent is not None:
            message += (f" inside {parent.name}: are you sure the structure (nesting and braces) "
                        f"is correct? (a plugin's directive? name it with --caddy-directive)")
        elif d.name.lower() in STANDARD_DIRECTIVES:
            message += f" (directive names are case-sensitive: {d.name.lower()})"
        else:
            message += " (a plugin's directive? name it with --caddy-directive)"
        self.error(message, d, d.name)

    def global_options(self, block: Directive) -> None:
        for d in block.block or ():
            if d.name == "order" and d.args and "{$" not in d.args[0] \
                    and d.args[0] not in STANDARD_DIRECTIVES | PLUGIN_DIRECTIVES:
                span = d.arg_span(0)
                error = ConfigError(
                    f"order: {d.args[0]} is not a registered directive (a plugin's directive? name "
                    f"it with --caddy-directive)", span.path, span.line, span.column)
                error.caddy_directive = d.args[0]
                self.errors.append(error)
            if self._skip(d) or d.name in GLOBAL_OPTIONS or d.name in PLUGIN_GLOBAL_OPTIONS:
                continue
            name = self._shown(d)
            if name is None:
                self.error("unrecognized global option, in a file outside the checked tree "
                           "(not quoted)", d)
                continue
            message = f"unrecognized global option: {name}"
            if _looks_like_address(name) and d.block is not None:
                message += (" (it looks like a site: is the '}' that closes the global options "
                            "block missing?)")
            elif name in STANDARD_DIRECTIVES:
                message += " (it is a directive: directives belong inside a site block)"
            self.error(message, d)

    def ambiguous_sites(self, sites: list[Directive]) -> None:
        seen: dict = {}         # address -> [(bind addresses, site)]
        for site in sites:
            binds = frozenset(a for d in site.block or () if d.name == "bind" for a in d.args) \
                or frozenset({""})
            for index, address in enumerate(site.args):
                if address in site.args[:index]:
                    continue            # twice in one block: Caddy does not mind
                for other_binds, other in seen.get(address, ()):
                    if binds & other_binds:
                        where, span = other.span, site.arg_span(index)
                        also = f"line {where.line}" if where.path == span.path \
                            else f"{where.path}:{where.line}"
                        self.errors.append(ConfigError(
                            f"ambiguous site definition: {address} (a site at {also} has the "
                            f"same address on the same listener)", span.path, span.line,
                            span.column))
                        break
                seen.setdefault(address, []).append((binds, site))


def waive(errors: list, directives: Iterable[str]) -> list:
    """`errors` without the unknown-directive refusals for `directives`: the directives the
    user's Caddy build has beyond the standard ones (`options["caddy_directives"]`, from
    `--caddy-directive` or the project configuration), which that build accepts."""
    known = set(directives or ())
    return [e for e in errors if getattr(e, "caddy_directive", None) not in known] if known else list(errors)


def _looks_like_address(name: str) -> bool:
    return ("." in name or name.startswith(":") or "://" in name or name == "localhost") \
        and not name.startswith(("@", "(", "{"))
