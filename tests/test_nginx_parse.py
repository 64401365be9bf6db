"""The nginx front end: positions, includes, `nginx -T` dumps, snippet contexts, errors.

Every expected line/column below was counted by hand from the input shown next to it.
Columns are 1-based characters; `end_column` is exclusive; a tab is one column.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from linter.nginx.parse import detect_context, load, looks_like_nginx, parse_string
from linter.syntax import Span, walk

DATA = Path(__file__).resolve().parent / "data" / "nginx"


def find(tree, name, nth=0):
    return [d for d in walk(tree.directives) if d.name == name][nth]


def where(span: Span) -> tuple:
    return (span.line, span.column, span.end_line, span.end_column)


def messages(tree) -> list[str]:
    return [e.message for e in tree.errors]


# --- positions -------------------------------------------------------------------------------

WELL_KNOWN = """\
server {
    listen 443 ssl;
    location /.well-known/matrix/server {
        return 200 '{"m.server": "x:443"}';
    }
}
"""


def test_block_directive_span_ends_after_its_opening_brace():
    tree = parse_string(WELL_KNOWN)
    server = find(tree, "server")
    assert where(server.span) == (1, 1, 1, 9)
    assert where(server.extra["block_end"]) == (6, 1, 6, 2)


def test_simple_directive_name_args_and_semicolon():
    listen = find(parse_string(WELL_KNOWN), "listen")
    assert listen.args == ["443", "ssl"]
    assert where(listen.span) == (2, 5, 2, 20)
    assert [where(s) for s in listen.arg_spans] == [(2, 12, 2, 15), (2, 16, 2, 19)]


def test_location_argument_and_header():
    location = find(parse_string(WELL_KNOWN), "location")
    assert location.args == ["/.well-known/matrix/server"]
    assert where(location.arg_spans[0]) == (3, 14, 3, 40)
    assert where(location.span) == (3, 5, 3, 42)
    assert where(location.extra["block_end"]) == (5, 5, 5, 6)


def test_braces_inside_quoted_json_do_not_open_a_block():
    tree = parse_string(WELL_KNOWN)
    ret = find(tree, "return")
    assert ret.block is None
    assert ret.args == ["200", '{"m.server": "x:443"}']
    assert ret.extra["quoted"] == [False, True]
    # The span of a quoted argument includes its quotes.
    assert where(ret.arg_spans[1]) == (4, 20, 4, 43)
    assert where(ret.span) == (4, 9, 4, 44)
    assert tree.errors == []


def test_semicolon_and_braces_inside_double_quotes_are_text():
    ret = find(parse_string('return 200 "a;{b}";\n'), "return")
    assert ret.args == ["200", "a;{b}"]
    assert where(ret.arg_spans[1]) == (1, 12, 1, 19)


def test_tabs_count_as_one_column():
    listen = find(parse_string("server {\n\tlisten\t443;\n}\n"), "listen")
    assert where(listen.span) == (2, 2, 2, 13)
    assert where(listen.arg_spans[0]) == (2, 9, 2, 12)


def test_multi_line_quoted_string_spans_lines():
    tree = parse_string('add_header X "a\nb" always;\n')
    header = find(tree, "add_header")
    assert header.args == ["X", "a\nb", "always"]
    assert where(header.arg_spans[1]) == (1, 14, 2, 3)
    assert where(header.arg_spans[2]) == (2, 4, 2, 10)
    assert where(header.span) == (1, 1, 2, 11)


def test_escaped_quote_is_unescaped_in_the_value_only():
    header = find(parse_string('add_header X "say \\"hi\\"";\n'), "add_header")
    assert header.args[1] == 'say "hi"'
    assert where(header.arg_spans[1]) == (1, 14, 1, 26)


def test_comments_are_dropped_even_between_arguments():
    tree = parse_string("# top\nlog_format main # why\n    '$remote_addr' # more\n    ;\n")
    assert [d.name for d in tree.directives] == ["log_format"]
    log_format = tree.directives[0]
    assert log_format.args == ["main", "$remote_addr"]
    assert where(log_format.arg_spans[1]) == (3, 5, 3, 19)
    assert where(log_format.span) == (2, 1, 4, 6)


def test_hash_inside_a_word_is_not_a_comment():
    ret = find(parse_string("return 200 a#b;\n"), "return")
    assert ret.args == ["200", "a#b"]


def test_if_condition_keeps_its_words_without_parentheses():
    tree = parse_string("if ($request_method = OPTIONS) {\n    return 204;\n}\n")
    directive = find(tree, "if")
    assert directive.args == ["$request_method", "=", "OPTIONS"]
    # `(` is column 4, so `$request_method` starts at 5; `)` is column 30.
    assert [where(s) for s in directive.arg_spans] == [
        (1, 5, 1, 20), (1, 21, 1, 22), (1, 23, 1, 30)]


def test_if_with_separate_parentheses_and_quoted_value():
    directive = find(parse_string('if ( $http_origin ~* "^https://x" ) { }\n'), "if")
    assert directive.args == ["$http_origin", "~*", "^https://x"]
    assert where(directive.arg_spans[0]) == (1, 6, 1, 18)
    assert where(directive.arg_spans[2]) == (1, 22, 1, 34)


def test_envsubst_variables_stay_separate_arguments():
    # crossplane 0.5.8 glues "${DOMAIN} www" together; nginx (and we) do not.
    tree = parse_string("server_name ${DOMAIN} www.${DOMAIN};\n")
    name = find(tree, "server_name")
    assert name.args == ["${DOMAIN}", "www.${DOMAIN}"]
    assert where(name.arg_spans[1]) == (1, 23, 1, 36)


def test_dollar_brace_does_not_open_a_block():
    tree = parse_string("location / {\n    proxy_pass http://${UPSTREAM}:8008;\n}\n")
    proxy_pass = find(tree, "proxy_pass")
    assert proxy_pass.args == ["http://${UPSTREAM}:8008"]
    assert tree.errors == []


LUA = """\
location /lua {
    content_by_lua_block {
        local s = "}" -- a } in a comment
        ngx.say(s) }
    add_header X y;
}
"""


def test_lua_block_body_is_one_argument_and_braces_inside_do_not_count():
    tree = parse_string(LUA)
    lua = find(tree, "content_by_lua_block")
    assert lua.block is None
    assert lua.extra["lua_block"] is True
    assert lua.args == ['\n        local s = "}" -- a } in a comment\n        ngx.say(s) ']
    assert where(lua.arg_spans[0]) == (2, 26, 4, 21)
    assert where(lua.span) == (2, 5, 4, 21)
    # Parsing resumes after the Lua block.
    assert where(find(tree, "add_header").span) == (5, 5, 5, 20)
    assert tree.errors == []


def test_set_by_lua_block_keeps_its_variable():
    lua = find(parse_string("set_by_lua_block $x { return 1 }\n"), "set_by_lua_block")
    assert lua.args == ["$x", " return 1 "]
    assert where(lua.arg_spans[0]) == (1, 18, 1, 20)


def test_third_party_directives_are_accepted():
    tree = parse_string('location / {\n    more_set_headers "Server: x";\n    echo hi;\n}\n')
    assert [d.name for d in walk(tree.directives)] == ["location", "more_set_headers", "echo"]
    assert tree.errors == []


def test_non_utf8_bytes_are_read_as_latin1(tmp_path):
    conf = tmp_path / "latin1.conf"
    conf.write_bytes(b'return 200 "M\xf6lln"; # caf\xe9\nserver_tokens off;\n')
    tree = load(str(conf))
    assert find(tree, "return").args == ["200", "Mölln"]
    assert where(find(tree, "server_tokens").span) == (2, 1, 2, 19)
    assert tree.errors == []


def test_byte_order_mark_and_crlf_do_not_shift_columns(tmp_path):
    conf = tmp_path / "bom.conf"
    conf.write_bytes(b"\xef\xbb\xbfserver_tokens off;\r\nhttp {\r\n}\r\n")
    tree = load(str(conf))
    assert where(tree.directives[0].span) == (1, 1, 1, 19)
    assert where(tree.directives[1].span) == (2, 1, 2, 7)


# --- includes --------------------------------------------------------------------------------

TREE = DATA / "tree"


def test_includes_are_inlined_after_the_include_directive():
    tree = load(str(TREE / "nginx.conf"))
    assert tree.errors == []
    http = find(tree, "http")
    names = [d.name for d in http.block]
    # `conf.d/*.conf` (two servers, sorted) then the glob that matches nothing.
    assert names == ["include", "server", "server", "include"]
    include = http.block[0]
    assert include.block is None
    assert include.extra["includes"] == [str(TREE / "conf.d" / "matrix.conf"),
                                         str(TREE / "conf.d" / "web.conf")]
    assert http.block[3].args == ["empty.d/*.conf"]
    assert http.block[3].extra["includes"] == []


def test_included_directives_keep_their_own_file_in_spans():
    tree = load(str(TREE / "nginx.conf"))
    server = find(tree, "server")
    assert server.span.path == str(TREE / "conf.d" / "matrix.conf")
    assert where(server.span) == (1, 1, 1, 9)
    assert server.extra["included_from"].path == str(TREE / "nginx.conf")
    assert server.extra["included_from"].line == 7
    header = find(tree, "proxy_set_header")
    assert header.span.path == str(TREE / "snippets" / "proxy.conf")
    assert where(header.span) == (1, 1, 1, 29)


def test_relative_includes_resolve_against_the_prefix_not_the_including_file():
    # conf.d/matrix.conf says `include snippets/proxy.conf;`: that is <prefix>/snippets/,
    # not conf.d/snippets/ (which does not exist).
    tree = load(str(TREE / "nginx.conf"))
    location = find(tree, "location")
    assert [d.name for d in location.block] == [
        "include", "proxy_set_header", "proxy_set_header", "proxy_pass"]


def test_a_snippet_included_twice_is_inlined_twice():
    tree = load(str(TREE / "nginx.conf"))
    headers = [d for d in walk(tree.directives) if d.name == "proxy_set_header"]
    assert len(headers) == 4
    assert headers[0] is not headers[2]


def test_files_lists_every_file_read_entry_first():
    tree = load(str(TREE / "nginx.conf"))
    assert tree.files == [str(TREE / p) for p in (
        "nginx.conf", "conf.d/matrix.conf", "snippets/proxy.conf",
        "snippets/mpl-well-known.conf", "conf.d/web.conf")]


def test_absolute_include_missing_on_this_machine_is_mapped_into_the_prefix():
    assert not os.path.exists("/etc/nginx/snippets/mpl-well-known.conf")
    tree = load(str(TREE / "conf.d" / "matrix.conf"), prefix=str(TREE))
    assert tree.errors == []
    well_known = find(tree, "location", 1)
    assert well_known.args == ["=", "/.well-known/matrix/server"]
    assert well_known.span.path == str(TREE / "snippets" / "mpl-well-known.conf")


def test_explicit_prefix_is_used_for_relative_includes(tmp_path):
    (tmp_path / "snippets").mkdir()
    (tmp_path / "snippets" / "proxy.conf").write_text("proxy_buffering off;\n")
    site = tmp_path / "site.conf"
    site.write_text("location / {\n    include snippets/proxy.conf;\n}\n")
    tree = load(str(site), prefix=str(tmp_path))
    assert tree.errors == []
    assert find(tree, "proxy_buffering").span.path == str(tmp_path / "snippets" / "proxy.conf")


def test_site_file_without_prefix_finds_snippets_next_to_sites_enabled():
    tree = load(str(TREE / "sites-enabled" / "matrix"))
    assert tree.errors == []
    assert find(tree, "proxy_set_header").span.path == str(TREE / "snippets" / "proxy.conf")


def test_missing_plain_include_is_unresolved_at_the_include(tmp_path):
    # Open world: a file we cannot see is unknown, not an error (tests/test_nginx_open_world.py).
    conf = tmp_path / "nginx.conf"
    conf.write_text("http {\n    include nowhere.conf;\n}\n")
    tree = load(str(conf))
    assert tree.errors == []
    assert len(tree.unresolved) == 1
    unresolved = tree.unresolved[0]
    assert (unresolved.span.path, unresolved.span.line, unresolved.span.column) == (str(conf), 2, 5)
    assert unresolved.target == "nowhere.conf"
    assert unresolved.reason.startswith("not found")


def test_glob_matching_nothing_is_silently_empty(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text("http {\n    include /nonexistent-mpl/*.conf;\n}\n")
    assert load(str(conf)).errors == []


def test_include_cycle_is_an_error_not_a_hang():
    tree = load(str(DATA / "cycle" / "a.conf"))
    assert len(tree.errors) == 1
    error = tree.errors[0]
    assert (error.path, error.line, error.column) == (str(DATA / "cycle" / "b.conf"), 2, 1)
    assert error.message.startswith("include cycle: ")
    # What was read before the cycle is still there.
    assert [d.name for d in walk(tree.directives)] == ["http", "include", "server_tokens",
                                                        "include"]


def test_self_include_is_a_cycle(tmp_path):
    conf = tmp_path / "self.conf"
    conf.write_text("include self.conf;\n")
    assert messages(load(str(conf)))[0].startswith("include cycle: ")


# --- nginx -T dumps --------------------------------------------------------------------------

DUMP = DATA / "dump" / "nginx-T.txt"


def test_dump_sections_are_virtual_files_with_the_dumps_line_numbers():
    tree = load(str(DUMP))
    assert tree.errors == []
    assert tree.files == [str(DUMP)]
    http = find(tree, "http")
    assert where(http.span) == (8, 1, 8, 7)
    include = find(tree, "include", 1)  # `\tinclude snippets/proxy.conf;` on line 17
    assert where(include.span) == (17, 2, 17, 30)
    assert include.extra["includes"] == ["/etc/nginx/snippets/proxy.conf"]
    header = find(tree, "proxy_set_header")
    assert header.span.path == str(DUMP)
    assert where(header.span) == (26, 1, 26, 29)
    assert header.extra["virtual_path"] == "/etc/nginx/snippets/proxy.conf"


def test_dump_includes_are_placed_where_they_are_included():
    tree = load(str(DUMP))
    location = find(tree, "location")
    assert [d.name for d in location.block] == [
        "include", "proxy_set_header", "proxy_set_header", "proxy_pass"]
    assert find(tree, "return").args == ["200", '{"m.server": "matrix.example.org:443"}']
    assert find(tree, "return").extra["virtual_path"] == "/etc/nginx/conf.d/matrix.conf"


def test_dump_include_missing_from_the_dump_is_unresolved():
    text = ("# configuration file /etc/nginx/nginx.conf:\n"
            "http {\n    include missing.conf;\n}\n\n")
    tree = parse_string(text, "dump.txt")
    assert tree.errors == []
    assert [(u.span.path, u.span.line, u.span.column, u.target, u.reason) for u in tree.unresolved] == [
        ("dump.txt", 3, 5, "missing.conf", "not in the nginx -T dump")]


def test_a_comment_mentioning_configuration_file_is_not_a_dump():
    tree = parse_string("server_tokens off;\n# configuration file /x.conf:\n")
    assert tree.directives[0].extra.get("virtual_path") is None


# --- snippet contexts ------------------------------------------------------------------------

@pytest.mark.parametrize("text, context", [
    ("user nginx;\nevents {}\nhttp {}\n", "main"),
    ("server {\n    listen 80;\n}\nupstream synapse { server 127.0.0.1:8008; }\n", "http"),
    ("proxy_set_header Host $host;\n", "http"),
    ("location /_matrix {\n    proxy_pass http://synapse;\n}\n", "server"),
    ("proxy_pass http://127.0.0.1:8008;\nproxy_set_header Host $host;\n", "location"),
])
def test_snippets_get_their_context_and_no_bogus_errors(text, context):
    tree = parse_string(text)
    assert tree.errors == []
    assert {d.extra["context"] for d in tree.directives} == {context}
    assert detect_context(tree.directives) == context


def test_misplaced_directive_in_a_full_config_is_reported():
    tree = parse_string("http {\n  server {\n    proxy_pass http://x;\n  }\n}\n")
    assert [(e.message, e.line, e.column) for e in tree.errors] == [
        ('"proxy_pass" directive is not allowed here', 3, 5)]


def test_included_snippet_is_checked_in_the_context_of_its_include(tmp_path):
    (tmp_path / "bad.conf").write_text("listen 80;\n")
    conf = tmp_path / "nginx.conf"
    conf.write_text("http {\n    server {\n        location / {\n            include bad.conf;\n"
                    "        }\n    }\n}\n")
    tree = load(str(conf))
    assert [(e.path, e.line, e.column, e.message) for e in tree.errors] == [
        (str(tmp_path / "bad.conf"), 1, 1, '"listen" directive is not allowed here')]


# --- errors ----------------------------------------------------------------------------------

def errors_at(text: str) -> list[tuple]:
    return [(e.line, e.column, e.message) for e in parse_string(text, "t.conf").errors]


def test_missing_semicolon_before_closing_brace():
    assert errors_at("location / {\n    return 200 ok\n}\n") == [
        (2, 18, 'missing ";" after directive "return" (found "}")')]


def test_missing_semicolon_swallows_the_next_line_and_crossplane_counts_arguments():
    text = "location / {\n    proxy_pass http://a\n    proxy_buffering off;\n}\n"
    assert errors_at(text) == [(2, 5, 'invalid number of arguments in "proxy_pass" directive')]


def test_unexpected_closing_brace():
    assert errors_at("server {\n}\n}\n") == [
        (3, 1, 'unexpected "}" (there is no open block to close)')]


def test_unclosed_block_points_at_the_innermost_open_block():
    assert errors_at("http {\n    server {\n        listen 80;\n") == [
        (2, 5, 'unexpected end of file: the "server" block opened here is never closed '
               '(missing "}")')]


def test_truncated_in_the_middle_of_a_directive():
    found = errors_at("http {\n    server_tokens")
    assert (2, 18, 'unexpected end of file: directive "server_tokens" is missing its ";"') \
        in found
    assert len(found) == 2  # and the `http` block is never closed


def test_unterminated_quoted_string_is_reported_once_at_the_quote():
    assert errors_at('http {\n    return 200 "abc;\n}\n') == [
        (2, 16, 'the quoted string starting here is never closed (missing ")')]


def test_unclosed_lua_block():
    found = errors_at("content_by_lua_block {\n  ngx.say('x')\n")
    assert found == [(1, 22, 'the Lua block of "content_by_lua_block" is never closed '
                             '(missing "}")')]


def test_double_semicolon():
    assert errors_at("server_tokens off;;\n") == [
        (1, 19, 'unexpected ";" (there is no directive before it)')]


def test_text_glued_to_a_closing_quote():
    assert errors_at('add_header X "a"b;\n') == [
        (1, 17, 'unexpected "b" right after a quoted string (a space is missing)')]


def test_wrong_argument_count_message_has_no_file_and_line_tail():
    tree = parse_string("http {\n    add_header X;\n}\n", "t.conf")
    assert [(e.path, e.line, e.column, e.message) for e in tree.errors] == [
        ("t.conf", 2, 5, 'invalid number of arguments in "add_header" directive')]


def test_flag_value_is_checked():
    assert errors_at("http {\n  gzip yes;\n}\n") == [
        (2, 3, 'invalid value "yes" in "gzip" directive, it must be "on" or "off"')]


def test_errors_keep_the_rest_of_the_file():
    tree = parse_string("server_tokens off;;\nhttp {\n    server {}\n}\n")
    assert [d.name for d in walk(tree.directives)] == ["server_tokens", "http", "server"]


def test_unreadable_entry_is_an_error_not_an_exception(tmp_path):
    tree = load(str(tmp_path / "absent.conf"))
    assert tree.directives == []
    assert tree.errors[0].path == str(tmp_path / "absent.conf")
    assert tree.errors[0].line == 0


@pytest.mark.parametrize("text", ["{", "}", ";", "{}}", '"', "'", "\\", "a {", "a \\",
                                  "if (", "${", "content_by_lua_block", "set_by_lua_block"])
def test_garbage_never_raises_and_is_never_clean(text):
    assert parse_string(text).errors


# --- server detection ------------------------------------------------------------------------

@pytest.mark.parametrize("path, text, expected", [
    ("site.conf", "server {\n    listen 80;\n    location / { proxy_pass http://x; }\n}\n", True),
    ("snippet", "proxy_set_header Host $host;\n", True),
    ("/etc/nginx/nginx.conf", "", True),
    ("httpd.conf", "<VirtualHost *:443>\n    ProxyPass /_matrix http://x nocanon\n"
                   "</VirtualHost>\n", False),
    ("Caddyfile", "example.org {\n\treverse_proxy /_matrix/* localhost:8008\n}\n", False),
    ("haproxy.cfg", "frontend https\n    bind :443\n    default_backend synapse\n", False),
    ("conf.d/matrix.conf", "<Location /_matrix>\n    Require all granted\n</Location>\n", False),
])
def test_looks_like_nginx(path, text, expected):
    assert looks_like_nginx(text, path) is expected


def test_absurdly_deep_nesting_is_an_error_not_a_recursion_crash():
    depth = 5000
    tree = parse_string("a {" * depth + "}" * depth)
    assert [e.message for e in tree.errors] == [
        "blocks are nested more than 100 deep; the contents of this one are ignored"]
    # The 101st `a {` (the k-th starts at column 3 * (k - 1) + 1).
    assert (tree.errors[0].line, tree.errors[0].column) == (1, 301)


def test_context_detection_looks_inside_blocks():
    # `add_header` is allowed in `if` inside a location, not in `if` inside a server: nginx
    # accepts this file only as a location body.
    tree = parse_string('if ($http_referer ~ "^https://x") {\n'
                        '    add_header X-Frame-Options DENY;\n'
                        '}\n')
    assert tree.errors == []
    assert tree.directives[0].extra["context"] == "location"


def test_headers_more_directives_place_a_snippet_in_http():
    tree = parse_string('more_set_headers "Server: x";\n')
    assert tree.directives[0].extra["context"] == "http"
