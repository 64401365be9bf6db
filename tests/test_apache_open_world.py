"""The Apache front end in an open world: what the linter cannot see is unknown, never absent.

Users hand us one vhost file, or a repository whose configs `Include` files that live only on
the server (/etc/letsencrypt/options-ssl-apache.conf, Debian's conf-enabled/ and mods-enabled/)
or `Use` macros defined elsewhere. Such an include or macro is no error: it is `Unresolved` in the
tree, an `Unknown` in the model wherever its directives would apply, and shipped knowledge
(linter/known/apache/) answers for the standard files. Resolution order: the checked tree, this
machine (outside the tree only, never with a prefix), --include-path directories, knowledge.
"""
from __future__ import annotations

import os
import textwrap

import pytest

from linter.apache import expand
from linter.apache.build import build
from linter.apache.parse import load, parse_string
from linter.engine import lint
from linter.known import entries
from linter.model import Unknown
from linter.select import select_route
from linter.syntax import LoadOptions, Span, walk

KNOWN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "linter", "known", "apache")


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path)


def only(tree):
    assert tree.errors == [], tree.errors
    return tree


def whats(unknowns):
    return [u.what.split("`")[1] for u in unknowns]


# -- what cannot be read is unresolved, not an error ----------------------------------------

def test_missing_include_is_unresolved_with_its_position(tmp_path):
    main = write(tmp_path / "matrix.conf", """\
        <VirtualHost *:443>
            ServerName matrix.example.org
              Include /srv/mpl-nowhere/extra.conf
            ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
        </VirtualHost>
        """)
    tree = only(load(main))
    (u,) = tree.unresolved
    assert (u.span, u.target, u.kind) == (Span(main, 3, 7, 3, 42), "/srv/mpl-nowhere/extra.conf", "include")
    assert u.reason == f"not found (looked in {tmp_path} and on this machine)"
    include = tree.directives[0].block[1]
    assert include.extra["unresolved"] is u and include.extra["includes"] == []
    # The rest of the file is read as usual.
    assert [d.key for d in tree.directives[0].block] == ["servername", "include", "proxypass"]


def test_a_directory_nobody_has_and_an_undefined_variable_are_unresolved(tmp_path):
    main = write(tmp_path / "main.conf", """\
        Include conf.d/*.conf
        Include ${APACHE_CONFDIR}/conf-available/matrix.conf
        IncludeOptional ${NOPE}/x.conf
        """)
    tree = only(load(main))
    assert [(u.span.line, u.target) for u in tree.unresolved] == [
        (1, "conf.d/*.conf"), (2, "${APACHE_CONFDIR}/conf-available/matrix.conf"), (3, "${NOPE}/x.conf")]
    assert tree.unresolved[1].reason == "${APACHE_CONFDIR} is not defined in the files read"
    # What follows the variable is looked for in the tree: found there, it is read.
    found = write(tmp_path / "conf-available/matrix.conf", "Listen 8448\n")
    tree = only(load(main))
    assert tree.files == [main, found] and [u.span.line for u in tree.unresolved] == [1, 3]


def test_undefined_macro_is_unresolved_and_the_use_stays_a_leaf(tmp_path):
    main = write(tmp_path / "sites.conf", """\
        Use MatrixVHost matrix.example.org 8008
        <VirtualHost *:443>
            Use MatrixHeaders
        </VirtualHost>
        """)
    tree = only(load(main))
    assert [(u.span.line, u.span.column, u.target, u.kind, u.reason) for u in tree.unresolved] == [
        (1, 1, "MatrixVHost", "macro", "a macro not defined in the files read"),
        (3, 5, "MatrixHeaders", "macro", "a macro not defined in the files read")]
    use = tree.directives[0]
    assert use.key == "use" and use.block is None and use.extra["unresolved"] is tree.unresolved[0]
    assert [d.key for d in tree.directives] == ["use", "virtualhost"]
    # The usual cleanup after using a macro from elsewhere removes that macro: no error either.
    tree = only(parse_string("Use Elsewhere a\nUndefMacro Elsewhere\n", "/cfg/m.conf"))
    assert [u.target for u in tree.unresolved] == ["Elsewhere"]
    tree = only(parse_string("UndefMacro FromElsewhere\n", "/cfg/m.conf"))
    assert tree.unresolved == []
    # Removing a macro the files define only later is httpd's error, as before.
    (error,) = parse_string("UndefMacro Later\n<Macro Later>\n</Macro>\n", "/cfg/m.conf").errors
    assert (error.line, error.message) == (1, "cannot remove undefined macro 'Later'")


def test_a_macro_defined_in_an_included_file_is_used(tmp_path):
    write(tmp_path / "macros.conf", "<Macro H $v>\nHeader set X-Test $v\n</Macro>\n")
    main = write(tmp_path / "main.conf", "Include macros.conf\nUse H yes\n")
    tree = only(load(main))
    assert tree.unresolved == [] and tree.directives[-1].args == ["set", "X-Test", "yes"]


def test_a_macro_written_too_late_or_removed_is_still_an_error():
    tree = parse_string("Use Late\n<Macro Late>\nListen 1\n</Macro>\n"
                        "<Macro Gone>\nListen 2\n</Macro>\nUndefMacro Gone\nUse Gone\n", "/cfg/m.conf")
    assert [(e.line, e.message) for e in tree.errors] == [
        (1, "macro 'Late' is not defined (a <Macro> must come before its Use)"),
        (9, "macro 'Gone' is not defined (a <Macro> must come before its Use)")]
    assert tree.unresolved == [] and "unresolved" not in tree.directives[0].extra


def test_cycles_syntax_errors_and_unreadable_files_stay_errors(tmp_path, monkeypatch):
    a = write(tmp_path / "a.conf", "Include b.conf\n")
    b = write(tmp_path / "b.conf", "Listen 1\nInclude a.conf\n")
    tree = load(a)
    (error,) = tree.errors
    assert (error.path, error.line, error.column) == (b, 2, 1) and "include cycle" in error.message
    assert tree.unresolved == []

    bad = write(tmp_path / "bad.conf", "<Location /x>\n  Header set A b\n")
    main = write(tmp_path / "main.conf", "Include bad.conf\n")
    (error,) = load(main).errors
    assert (error.path, error.line, error.column) == (bad, 1, 1) and "<Location> is not closed" in error.message

    real_open = open

    def unreadable(path, *args, **kwargs):
        if str(path) == bad:
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    import linter.inputs

    monkeypatch.setattr(linter.inputs, "open", unreadable, raising=False)
    tree = load(main)
    (error,) = tree.errors
    assert (error.path, error.line) == (main, 1) and error.message == f"Include: cannot read {bad}: Permission denied"
    assert tree.unresolved == []


def test_load_options_prefix_wins_and_prefix_still_works(tmp_path):
    copy = tmp_path / "copy"
    entry = write(copy / "apache2.conf", "Include /etc/apache2/sites-enabled/*.conf\n")
    site = write(copy / "sites-enabled/m.conf", "ServerName m\n")
    other = tmp_path / "other"
    other.mkdir()
    assert only(load(entry, prefix=str(copy))).files == [entry, site]
    assert only(load(entry, prefix=str(other), load_options=LoadOptions(prefix=str(copy)))).files == [entry, site]


# -- where includes are found -----------------------------------------------------------------

def test_known_options_ssl_apache_supplies_its_directives_at_the_include(tmp_path):
    main = write(tmp_path / "matrix.conf", """\
        <VirtualHost *:443>
            ServerName matrix.example.org
            Include /etc/letsencrypt/options-ssl-apache.conf
            ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
        </VirtualHost>
        """)
    tree = only(load(main))
    assert tree.unresolved == [] and tree.files == [main] and tree.outside == []
    include = tree.directives[0].block[1]
    (known,) = include.extra["known"]
    assert known.paths == ("/etc/letsencrypt/options-ssl-apache.conf",) and "certbot" in known.source
    pulled = tree.directives[0].block[2:-1]
    assert [(d.name, d.args) for d in pulled[:6]] == [
        ("SSLEngine", ["on"]), ("SSLProtocol", ["all", "-SSLv2", "-SSLv3", "-TLSv1", "-TLSv1.1"]),
        ("SSLCipherSuite", [pulled[2].args[0]]), ("SSLHonorCipherOrder", ["off"]),
        ("SSLSessionTickets", ["off"]), ("SSLOptions", ["+StrictRequire"])]
    assert [d.args[-1] for d in pulled[6:]] == ["vhost_combined", "vhost_common"]
    for d in pulled:
        assert d.span == include.span == Span(main, 3, 5, 3, 53)
        assert d.arg_spans == [include.span] * len(d.args)
        assert d.extra["known"] is known and d.extra["included_from"] == include.span
    (site,) = build(tree).sites
    assert site.tls and site.unknowns == []


def test_a_file_in_the_tree_wins_over_knowledge(tmp_path):
    main = write(tmp_path / "matrix.conf", "<VirtualHost *:443>\n"
                 "Include /etc/letsencrypt/options-ssl-apache.conf\n</VirtualHost>\n")
    mine = write(tmp_path / "letsencrypt/options-ssl-apache.conf", "SSLEngine off\n")
    tree = only(load(main))
    include, engine = tree.directives[0].block
    assert "known" not in include.extra and include.extra["includes"] == [mine]
    assert engine.args == ["off"] and engine.span.path == mine and tree.files == [main, mine]


def test_include_paths_win_over_knowledge(tmp_path):
    main = write(tmp_path / "site/matrix.conf", "<VirtualHost *:443>\n"
                 "Include /etc/letsencrypt/options-ssl-apache.conf\n</VirtualHost>\n")
    given = write(tmp_path / "server-files/letsencrypt/options-ssl-apache.conf", "SSLEngine optional\n")
    tree = only(load(main, load_options=LoadOptions(include_paths=(str(tmp_path / "server-files"),))))
    include, engine = tree.directives[0].block
    assert include.extra["includes"] == [given] and "known" not in include.extra
    assert engine.args == ["optional"] and tree.files == [main, given] and tree.outside == []


def test_a_host_file_outside_the_tree_is_read_and_recorded(tmp_path):
    host = write(tmp_path / "host/etc/matrix-extra.conf", "Header set X-Host yes\n")
    main = write(tmp_path / "repo/matrix.conf", f"<VirtualHost *:443>\nInclude {host}\n</VirtualHost>\n")
    tree = only(load(main))
    assert tree.files == [main, host] and tree.outside == [host] and tree.unresolved == []
    # Never with a prefix: the prefix is the tree, and this machine is not the server.
    tree = only(load(main, prefix=str(tmp_path / "repo"),
                     load_options=LoadOptions(include_paths=(str(tmp_path / "nothing"),))))
    assert tree.files == [main] and tree.outside == [] and [u.target for u in tree.unresolved] == [host]
    assert tree.unresolved[0].reason == (f"not found (looked in {tmp_path / 'repo'} (with --prefix, this "
                                         f"machine's files are not read); --include-path {tmp_path / 'nothing'})")


@pytest.mark.skipif(not os.path.isfile("/etc/apache2/mods-available/alias.load"),
                    reason="needs this machine's Debian apache2 package")
def test_a_copy_of_etc_apache2_reads_the_copy_not_this_machine(tmp_path):
    copy = tmp_path / "apache2"
    entry = write(copy / "apache2.conf", "Include /etc/apache2/mods-available/alias.load\n"
                  "IncludeOptional /etc/apache2/mods-available/headers.load\n")
    mine = write(copy / "mods-available/alias.load", "LoadModule alias_module copied.so\n")
    tree = only(load(entry))
    # The copy wins, and the pairing /etc/apache2 <-> copy keeps headers.load inside the copy
    # (where it is missing) instead of reading this machine's.
    assert tree.files == [entry, mine] and tree.outside == []
    (u,) = tree.unresolved
    assert u.target == "/etc/apache2/mods-available/headers.load"
    assert u.reason == (f"not found (looked in {copy} (this machine's /etc/apache2 is not read: the checked "
                        f"tree stands for it))")
    # A lone file outside any copy of /etc/apache2 reads this machine's, and says so.
    lone = write(tmp_path / "elsewhere/x.conf", "Include /etc/apache2/mods-available/alias.load\n")
    tree = only(load(lone))
    assert tree.outside == ["/etc/apache2/mods-available/alias.load"] == tree.files[1:]


def test_a_server_root_outside_the_tree_comes_after_the_tree(tmp_path):
    host = tmp_path / "host-root"
    write(host / "a.conf", "Listen 1\n")
    only_there = write(host / "b.conf", "Listen 2\n")
    main = write(tmp_path / "repo/main.conf", f'ServerRoot "{host}"\nInclude a.conf\nInclude b.conf\n')
    mine = write(tmp_path / "repo/a.conf", "Listen 3\n")
    tree = only(load(main))
    assert tree.files == [main, mine, only_there] and tree.outside == [only_there]


def test_debian_globs_match_known_files_when_the_tree_lacks_the_directory(tmp_path):
    entry = write(tmp_path / "apache2.conf", """\
        IncludeOptional mods-enabled/*.load
        IncludeOptional mods-enabled/*.conf
        Include ports.conf
        IncludeOptional conf-enabled/*.conf
        IncludeOptional sites-enabled/*.conf
        """)
    tree = only(load(entry))
    modules = [d for d in tree.directives if d.key == "loadmodule"]
    assert "proxy_module" not in {d.args[0] for d in modules}     # not in Debian's default set
    assert {"alias_module", "mpm_event_module", "authz_core_module"} <= {d.args[0] for d in modules}
    assert all(d.span.line == 1 for d in modules) and tree.files == [entry]
    status = next(d for d in walk(tree.directives) if d.key == "location")
    assert status.args == ["/server-status"] and status.span.line == 2
    assert any(d.key == "servertokens" and d.span.line == 4 for d in tree.directives)
    # ports.conf and sites-enabled/ are the server's own: unknown. At the global level they
    # could add virtual hosts.
    assert [(u.span.line, u.target) for u in tree.unresolved] == [(3, "ports.conf"), (5, "sites-enabled/*.conf")]
    config = build(tree)
    assert whats(config.unknowns) == ["ports.conf", "sites-enabled/*.conf"]

    # A tree that has the directory reads it, and only it.
    mods = write(tmp_path / "mods-enabled/proxy.load", "LoadModule proxy_module mod_proxy.so\n")
    tree = only(load(entry))
    assert [d.args[0] for d in tree.directives if d.key == "loadmodule"] == ["proxy_module"]
    assert mods in tree.files


def test_a_wildcard_never_invents_a_directory_knowledge_does_not_name(tmp_path):
    # lookup() alone would let these name certbot's options-ssl-apache.conf (known by its bare
    # name) or Debian's mods-enabled/*.conf (`*` matching the directory).
    entry = write(tmp_path / "main.conf", "IncludeOptional /srv/mpl-nowhere/*.conf\n"
                  "IncludeOptional sites-enabled/*.conf\nIncludeOptional conf/vhosts/*/*.conf\n")
    tree = only(load(entry))
    assert len(tree.unresolved) == 3 and not any("known" in d.extra for d in tree.directives)


# -- shipped knowledge is what upstream ships -------------------------------------------------

def test_every_known_apache_file_parses_and_says_where_it_comes_from():
    known = entries("apache")
    assert len(known) >= 30
    for k in known:
        assert k.source and (k.paths or k.names)
        tree = parse_string(k.text, k.file)
        assert tree.errors == [] and tree.unresolved == [], k.file


def test_certbot_facts():
    (k,) = [k for k in entries("apache") if "options-ssl-apache" in k.file]
    tree = only(parse_string(k.text, k.file))
    got = {d.key: d.args for d in tree.directives if d.key != "logformat"}
    assert got == {
        "sslengine": ["on"], "sslprotocol": ["all", "-SSLv2", "-SSLv3", "-TLSv1", "-TLSv1.1"],
        "sslciphersuite": ["ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                           "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                           "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                           "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"],
        "sslhonorcipherorder": ["off"], "sslsessiontickets": ["off"], "ssloptions": ["+StrictRequire"]}
    assert [d.args[1] for d in tree.directives if d.key == "logformat"] == ["vhost_combined", "vhost_common"]


_LEFT_OUT = {"addicon", "addiconbytype", "addiconbyencoding", "addlanguage", "addcharset"}


@pytest.mark.skipif(not os.path.isdir("/etc/apache2/mods-available"), reason="needs Debian's apache2 package")
def test_debian_known_files_match_this_machines_package():
    """The Debian entries say what /etc/apache2/*-available/ holds (icons and language lists left out)."""
    compared = 0
    for k in entries("apache"):
        if not os.path.basename(k.file).startswith("debian-"):
            continue
        installed = k.paths[1]
        assert installed.startswith("/etc/apache2/") and "-available/" in installed
        with open(installed, encoding="utf-8") as f:
            theirs = [(d.key, d.args) for d in walk(parse_string(f.read(), installed).directives)
                      if d.key not in _LEFT_OUT]
        ours = [(d.key, d.args) for d in walk(parse_string(k.text, k.file).directives)]
        assert ours == theirs, k.file
        compared += 1
    # Every module and conf file Debian enables by default is known.
    for kind in ("mods", "conf"):
        enabled = f"/etc/apache2/{kind}-enabled"
        if os.path.isdir(enabled):
            for name in os.listdir(enabled):
                assert os.path.isfile(os.path.join(KNOWN, f"debian-{kind}-{name}")), name
    assert compared >= 30


# -- the model: unknowns where their directives would apply -----------------------------------

SCOPES = """\
Include global.conf
<VirtualHost *:443>
    ServerName matrix.example.org
    Include vhost.conf
    <Location /_matrix>
        Include location.conf
        ProxyPass http://127.0.0.1:8008/_matrix nocanon
    </Location>
    <Location /other>
        Use OtherMacro
        ProxyPass http://127.0.0.1:9000/other
    </Location>
</VirtualHost>
<VirtualHost *:443>
    ServerName other.example.org
    Include vhost2.conf
    ProxyPass / http://127.0.0.1:9001/
</VirtualHost>
"""


def test_route_site_and_config_unknowns_follow_where_directives_apply(tmp_path):
    entry = write(tmp_path / "apache2.conf", SCOPES)
    tree = only(load(entry))
    assert len(tree.unresolved) == 5
    config = build(tree)
    matrix, other = config.sites
    assert whats(config.unknowns) == ["global.conf"]
    assert whats(matrix.unknowns) == ["vhost.conf", "global.conf"]
    assert whats(other.unknowns) == ["vhost2.conf", "global.conf"]

    def route(site, path):
        return select_route(site, "GET", path)[0]

    assert whats(route(matrix, "/_matrix/client/versions").unknowns) == ["location.conf", "vhost.conf", "global.conf"]
    assert whats(route(matrix, "/other/x").unknowns) == ["OtherMacro", "vhost.conf", "global.conf"]
    assert whats(route(matrix, "/").unknowns) == ["vhost.conf", "global.conf"]
    assert whats(route(other, "/_matrix/client/versions").unknowns) == ["vhost2.conf", "global.conf"]
    unknown = route(matrix, "/_matrix/client/versions").unknowns[0]
    assert unknown == Unknown.from_unresolved(tree.unresolved[2])
    assert unknown.span == Span(entry, 6, 9, 6, 30)


def test_unresolved_includes_are_notes_not_errors_in_a_lint_run(tmp_path):
    entry = write(tmp_path / "apache2.conf", SCOPES)
    report = lint([entry], server="apache")
    assert report.errors == []
    notes = [f for f in report.findings if f.rule.code == "MPL001"]
    assert [(f.span.line, f.severity) for f in notes] == [(1, "info"), (4, "info"), (6, "info"), (10, "info"),
                                                          (16, "info")]
    strict = lint([entry], server="apache", strict_includes=True)
    assert [e.line for e in strict.errors] == [1, 4, 6, 10, 16]


def test_a_directive_only_snippet_is_a_site_in_an_unseen_context(tmp_path):
    snippet = write(tmp_path / "matrix-proxy.conf", """\
        ProxyPreserveHost On
        ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
        Header always set X-Frame-Options DENY
        """)
    config = build(only(load(snippet)))
    (site,) = config.sites
    context = Unknown.including_context(snippet)
    assert site.facts["snippet"] is True and site.unknowns == [context]
    assert site.routes and all(r.unknowns == [context] for r in site.routes)
    route = select_route(site, "GET", "/_matrix/client/versions")[0]
    assert route.action.kind == "proxy" and route.unknowns == [context]
    assert config.unknowns == []


def test_a_file_made_of_one_use_of_an_undefined_macro(tmp_path):
    snippet = write(tmp_path / "sites.conf", "Use MatrixVHost matrix.example.org 8008\n")
    tree = only(load(snippet))
    config = build(tree)
    (site,) = config.sites
    use = Unknown.from_unresolved(tree.unresolved[0])
    assert config.unknowns == [use]        # it could define virtual hosts
    assert site.unknowns == [use, Unknown.including_context(snippet)]
    assert all(r.unknowns == [use, Unknown.including_context(snippet)] for r in site.routes)
    report = lint([snippet], server="apache")
    assert report.errors == [] and [f.rule.code for f in report.findings if f.rule.code == "MPL001"] == ["MPL001"]


def test_whole_configurations_and_vhost_files_get_no_including_context(tmp_path):
    entry = write(tmp_path / "apache2.conf", "ServerName main\nProxyPass /x http://127.0.0.1:1/\n")
    (site,) = build(only(load(entry))).sites
    assert site.unknowns == [] and all(r.unknowns == [] for r in site.routes)
    vhost = write(tmp_path / "matrix.conf", "<VirtualHost *:443>\nProxyPass /x http://127.0.0.1:1/\n</VirtualHost>\n")
    (site,) = build(only(load(vhost))).sites
    assert site.unknowns == [] and all(r.unknowns == [] for r in site.routes)


def test_known_content_leaves_nothing_unknown(tmp_path):
    entry = write(tmp_path / "apache2.conf", "IncludeOptional mods-enabled/*.load\n"
                  "IncludeOptional conf-enabled/*.conf\n<VirtualHost *:443>\nProxyPass / http://127.0.0.1:1/\n</VirtualHost>\n")
    config = build(only(load(entry)))
    assert config.unknowns == [] and config.sites[0].unknowns == []
    assert all(r.unknowns == [] for r in config.sites[0].routes)


# -- the default handling is an answer that unseen regions can change ---------------------

def test_a_snippets_default_handling_depends_on_the_configuration_around_it():
    """A file of directives is the body of a site we cannot see: that site may have a
    DocumentRoot, handlers or `Header always` lines, so its fallback routes depend on it."""
    config = build(only(parse_string("ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon\n",
                                     "/cfg/snippet.conf")), {})
    site = config.sites[0]
    assert site.fallback and all(r.fallback for r in site.fallback)
    for route in site.fallback:
        assert "the configuration that includes `/cfg/snippet.conf`" in [u.what for u in route.unknowns]
    route, _ = select_route(site, "GET", "/elsewhere")
    assert route.fallback and "the configuration that includes `/cfg/snippet.conf`" in [u.what for u in route.unknowns]


def test_an_unresolved_include_in_a_location_reaches_its_default_handling(tmp_path):
    main = write(tmp_path / "matrix.conf", """\
        <VirtualHost *:443>
            ServerName matrix.example.org
            <Location /_matrix/media>
                Include /srv/mpl-nowhere/media.conf
            </Location>
            ProxyPass /_matrix/client http://127.0.0.1:8008/_matrix/client nocanon
        </VirtualHost>
        """)
    config = build(load(main), {})
    route, _ = select_route(config.sites[0], "GET", "/_matrix/media/v3/config")
    assert route.fallback and whats(route.unknowns) == ["/srv/mpl-nowhere/media.conf"]
    other, _ = select_route(config.sites[0], "GET", "/elsewhere")
    assert other.fallback and whats(other.unknowns) == []
