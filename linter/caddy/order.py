"""The order in which Caddy applies the directives of a site block, whatever order they are written in.

From caddyconfig/httpcaddyfile/directives.go (Caddy 2.11): `defaultDirectiveOrder`, the `order`
global option that moves a directive, and `sortRoutes`: directives sort by their position in the
order; several of the same directive sort by their path matcher (the longest single path first,
`/x` before `/x*`, a matcher before none), except `vars`, whose least specific one runs first so
the most specific wins.
"""
from __future__ import annotations

from typing import Optional

DEFAULT_ORDER = (
    "tracing", "map", "vars", "fs", "root", "log_append", "skip_log", "log_skip", "log_name",
    "header", "copy_response_headers", "request_body", "timeouts", "redir",
    "method", "rewrite", "uri", "try_files",
    "basicauth", "basic_auth", "forward_auth", "request_header", "encode", "push", "intercept",
    "templates",
    "invoke", "handle", "handle_path", "route",
    "abort", "error", "copy_response", "respond", "metrics", "reverse_proxy", "php_fastcgi",
    "file_server", "acme_server",
)


def directive_order(global_options: Optional[list] = None) -> list:
    """The order with the `order` global options applied (`order x before|after y`, `first`, `last`)."""
    order = list(DEFAULT_ORDER)
    for d in global_options or ():
        if d.key != "order" or len(d.args) < 2:
            continue
        name, where = d.args[0], d.args[1]
        if name in order:
            order.remove(name)
        if where == "first":
            order.insert(0, name)
        elif where == "last":
            order.append(name)
        elif where in ("before", "after") and len(d.args) >= 3 and d.args[2] in order:
            i = order.index(d.args[2])
            order.insert(i if where == "before" else i + 1, name)
        else:
            order.append(name)
    return order


def sort_values(values: list, order: list) -> list:
    """Stable sort of (directive, value) pairs like sortRoutes; a value is a route (its
    `matchers` are MatcherSets) or a list of routes that stay together."""
    position = {name: i for i, name in enumerate(order)}

    def single_path(route) -> str:
        sets = route.matchers or []
        if len(sets) == 1:
            paths = sets[0].path_patterns()
            if len(paths) == 1:
                return paths[0]
        return ""

    def less(a, b) -> bool:
        (a_dir, a_route), (b_dir, b_route) = a, b
        if a_dir != b_dir:
            return position.get(a_dir, len(order)) < position.get(b_dir, len(order))
        if isinstance(a_route, list) or isinstance(b_route, list):
            # A value that is a list of routes (php_fastcgi without a matcher returns its
            # routes as one subroute value) is no caddyhttp.Route: Caddy's sort keeps it where
            # it is ("if !ok { return false }").
            return False
        a_path, b_path = single_path(a_route), single_path(b_route)
        if a_path and b_path:
            a_trim = a_path[:-1] if a_path.endswith("*") else a_path
            b_trim = b_path[:-1] if b_path.endswith("*") else b_path
            if a_trim == b_trim:
                result = len(a_path) < len(b_path)
            elif len(a_trim) == len(b_trim):
                result = a_trim < b_trim
            else:
                result = len(a_trim) > len(b_trim)
        else:
            result = bool(a_route.matchers) and not b_route.matchers
        return (not result) if a_dir == "vars" else result

    items = list(values)
    go_stable_sort(items, less)
    return items


def go_stable_sort(items: list, less) -> None:
    """Go's sort.SliceStable (insertion sort on blocks of 20, then SymMerge), in place.

    Kept exact because Caddy's comparison is not a strict order (see `vars`): with it, the
    result depends on the algorithm, not only on the comparison.
    """
    def lt(i, j):
        return less(items[i], items[j])

    def swap(i, j):
        items[i], items[j] = items[j], items[i]

    def insertion(a, b):
        for i in range(a + 1, b):
            j = i
            while j > a and lt(j, j - 1):
                swap(j, j - 1)
                j -= 1

    def swap_range(a, b, n):
        for i in range(n):
            swap(a + i, b + i)

    def rotate(a, m, b):
        i, j = m - a, b - m
        while i != j:
            if i > j:
                swap_range(m - i, m, j)
                i -= j
            else:
                swap_range(m - i, m + j - i, i)
                j -= i
        swap_range(m - i, m, i)

    def sym_merge(a, m, b):
        if m - a == 1:
            i, j = m, b
            while i < j:
                h = (i + j) // 2
                if lt(h, a):
                    i = h + 1
                else:
                    j = h
            for k in range(a, i - 1):
                swap(k, k + 1)
            return
        if b - m == 1:
            i, j = a, m
            while i < j:
                h = (i + j) // 2
                if not lt(m, h):
                    i = h + 1
                else:
                    j = h
            for k in range(m, i, -1):
                swap(k, k - 1)
            return
        mid = (a + b) // 2
        n = mid + m
        if m > mid:
            start, r = n - b, mid
        else:
            start, r = a, m
        p = n - 1
        while start < r:
            c = (start + r) // 2
            if not lt(p - c, c):
                start = c + 1
            else:
                r = c
        end = n - start
        if start < m < end:
            rotate(start, m, end)
        if a < start < mid:
            sym_merge(a, start, mid)
        if mid < end < b:
            sym_merge(mid, end, b)

    n = len(items)
    block = 20
    a, b = 0, block
    while b <= n:
        insertion(a, b)
        a, b = b, b + block
    insertion(a, n)
    while block < n:
        a, b = 0, 2 * block
        while b <= n:
            sym_merge(a, a + block, b)
            a, b = b, b + 2 * block
        m = a + block
        if m < n:
            sym_merge(a, m, n)
        block *= 2
