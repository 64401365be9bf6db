"""Hostile and broken Apache httpd input: a clear error with file:line:column, never a traceback,
a hang or unbounded memory; what httpd refuses is never reported clean; nothing of a file
outside the checked tree is echoed.

Each test is a crash signature or a fail-open found by hand or by mutating the fixtures and the
corpus, kept at the place it was fixed (linter/apache/). The refusal tables at the end are
checked against `apache2 -t` itself when it is installed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
from click.testing import CliRunner

from linter.apache import expand, includes
from linter.apache.parse import load, parse_string
from linter.cli import main
from linter.engine import lint
from linter.syntax import LoadOptions


def write(path, text, mode="w"):
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def errors(tree):
    return [(os.path.basename(e.path), e.line, e.column, e.message) for e in tree.errors]


def clean_lint(path):
    """lint() without an internal error; its report."""
    report = lint([str(path)], server="apache")
    assert report.internal == [], [i.summary for i in report.internal]
    return report


# -- reading: linter.inputs.read_config for the entry file and every included file -----------

def test_include_dev_zero_is_refused_at_the_include(tmp_path):
    main_conf = write(tmp_path / "main.conf", "Listen 80\n  Include /dev/zero\n")
    started = time.monotonic()
    (error,) = load(main_conf).errors
    assert time.monotonic() - started < 5
    assert (error.path, error.line, error.column) == (main_conf, 2, 3)
    assert "refusing to read /dev/zero" in error.message


def test_include_of_a_fifo_does_not_block(tmp_path):
    os.mkfifo(tmp_path / "fifo.conf")
    main_conf = write(tmp_path / "main.conf", "Include fifo.conf\n")
    (error,) = load(main_conf).errors
    assert (error.path, error.line) == (main_conf, 1) and "not a regular file (a FIFO)" in error.message


def test_the_entry_file_itself_is_read_with_read_config(tmp_path):
    os.mkfifo(tmp_path / "fifo.conf")
    (error,) = load(str(tmp_path / "fifo.conf")).errors
    assert "not a regular file (a FIFO)" in error.message
    binary = write(tmp_path / "bin.conf", b"Listen 80\nHeader set A b\x00\n", "wb")
    (error,) = load(binary).errors
    assert (error.path, error.line) == (binary, 2) and "binary data (a NUL byte)" in error.message
    utf16 = write(tmp_path / "u16.conf", "Listen 80\n".encode("utf-16"), "wb")
    (error,) = load(utf16).errors
    assert error.path == utf16 and "UTF-16" in error.message


def test_binary_and_utf16_files_are_errors_not_clean(tmp_path):
    for name, data in (("bin.conf", b"<VirtualHost *:443>\n\x00\x01\x02</VirtualHost>\n"),
                       ("u16.conf", "<VirtualHost *:443>\n</VirtualHost>\n".encode("utf-16-le")
                        .join([b"\xff\xfe", b""]))):
        path = write(tmp_path / name, data, "wb")
        report = clean_lint(path)
        assert report.errors and report.findings == [], name
        result = CliRunner().invoke(main, ["check", "--server", "apache", path])
        assert result.exit_code == 2, result.output


def test_included_binary_utf16_and_oversize_files_are_errors_at_the_include(tmp_path):
    write(tmp_path / "bin.conf", b"Listen 81\n\n\x00\n", "wb")
    write(tmp_path / "u16.conf", "Listen 82\n".encode("utf-16"), "wb")
    write(tmp_path / "big.conf", "# padding\n" * 200)
    main_conf = write(tmp_path / "main.conf", "Include bin.conf\nInclude u16.conf\nInclude big.conf\n")
    tree = load(main_conf, load_options=LoadOptions(max_file_bytes=1000))
    assert [(e.path, e.line, e.column) for e in tree.errors] == [(main_conf, 1, 1), (main_conf, 2, 1),
                                                                 (main_conf, 3, 1)]
    binary, utf16, big = (e.message for e in tree.errors)
    assert f"{tmp_path / 'bin.conf'}:3: binary data (a NUL byte)" in binary
    assert "UTF-16" in utf16 and "over the 1000 bytes limit for one file" in big
    assert tree.files == [main_conf]


def test_every_inclusion_counts_towards_the_configuration_size(tmp_path):
    write(tmp_path / "part.conf", "Header set A b\n" + "# padding\n" * 50)
    main_conf = write(tmp_path / "main.conf", "Include part.conf\n" * 40)
    tree = load(main_conf, load_options=LoadOptions(max_total_bytes=5000))
    (first,) = tree.errors
    assert (first.path, first.line) == (main_conf, 9) and "--max-total-size" in first.message
    # Reported once; what the later Includes would read is unknown, not absent.
    assert [u.span.line for u in tree.unresolved] == list(range(10, 41))
    assert all(u.reason.startswith("not read: the configuration's size limit") for u in tree.unresolved)


def test_a_file_outside_the_tree_that_httpd_refuses_is_an_error_without_its_text(tmp_path):
    secret = write(tmp_path / "elsewhere" / "shadow", "root:$6$hash-that-must-not-leak:19000:0:99999:7:::\n"
                                                      "daemon:*:19000:0:99999:7:::\n")
    site = write(tmp_path / "repo" / "site.conf", f"<VirtualHost *:443>\n  Include {secret}\n</VirtualHost>\n")
    tree = load(site)
    assert tree.outside == [secret]
    assert [(e.path, e.line, e.column) for e in tree.errors] == [(secret, 1, 1), (secret, 2, 1)]
    assert not any("hash-that-must-not-leak" in e.message or "daemon" in e.message for e in tree.errors)
    result = CliRunner().invoke(main, ["check", "--server", "apache", site])
    assert result.exit_code == 2, result.output
    assert "hash-that-must-not-leak" not in result.output and f"{secret}:1:1" in result.output


@pytest.mark.skipif(not os.access("/etc/shadow", os.R_OK), reason="/etc/shadow is not readable here")
def test_include_etc_shadow_is_not_clean(tmp_path):
    site = write(tmp_path / "site.conf", "Include /etc/shadow\n")
    report = clean_lint(site)
    assert report.errors and all(e.path == "/etc/shadow" or e.path == site for e in report.errors)


def test_system_trees_are_neither_listed_nor_read(tmp_path):
    main_conf = write(tmp_path / "main.conf", "Include /proc/\nInclude /dev/*\nIncludeOptional /sys/*/x\n"
                                              "Include /proc/self/environ\n")
    tree = load(main_conf)
    assert [e.line for e in tree.errors] == [1, 2, 3, 4]
    assert all("system" in e.message for e in tree.errors)
    assert tree.files == [main_conf]


def test_a_directory_include_naming_too_many_files_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(includes, "MAX_FILES", 5)
    for i in range(8):
        write(tmp_path / "many" / f"{i}.conf", f"Listen {8000 + i}\n")
    main_conf = write(tmp_path / "main.conf", "Include many/\nInclude many/*.conf\n")
    tree = load(main_conf)
    assert [(e.line, e.message) for e in tree.errors] == [
        (1, "Include many/: it names more than 5 files (a directory Include reads every file below it): "
            "not read"),
        (2, "Include many/*.conf: the wildcard '*.conf' matches more than 5 names: not read")]
    assert tree.files == [main_conf]


def test_include_usr_stops_at_the_file_limit_quickly(tmp_path):
    main_conf = write(tmp_path / "main.conf", "Include /usr/\n")
    started = time.monotonic()
    tree = load(main_conf)
    assert time.monotonic() - started < 20
    assert tree.errors and tree.errors[0].path == main_conf and tree.errors[0].line == 1


def test_a_symlink_loop_in_an_included_directory_ends_with_an_error(tmp_path):
    # httpd: "Could not open configuration file .../self/self/self/...": refused.
    write(tmp_path / "conf.d" / "a.conf", "Listen 81\n")
    os.symlink(".", tmp_path / "conf.d" / "self")
    main_conf = write(tmp_path / "main.conf", "Include conf.d/\n")
    (error,) = load(main_conf).errors
    assert (error.path, error.line) == (main_conf, 1) and "symbolic link loop" in error.message
    # The same directory reached twice, but not inside itself, is read twice, as httpd does.
    os.remove(tmp_path / "conf.d" / "self")
    os.symlink(str(tmp_path / "conf.d"), tmp_path / "again")
    main_conf = write(tmp_path / "main.conf", "Include conf.d/\nInclude again/\n")
    tree = load(main_conf)
    assert tree.errors == [] and [d.args for d in tree.directives if d.key == "listen"] == [["81"], ["81"]]


def test_after_a_file_an_include_cannot_read_the_rest_of_it_is_not_read(tmp_path):
    write(tmp_path / "conf.d" / "a.conf", "Listen 81\n")
    write(tmp_path / "conf.d" / "b.bin", b"\x7fELF\x00", "wb")
    write(tmp_path / "conf.d" / "c.conf", "Listen 83\n")
    main_conf = write(tmp_path / "main.conf", "Include conf.d/\n")
    tree = load(main_conf)
    assert [e.message for e in tree.errors] == [
        f"Include: {tmp_path / 'conf.d' / 'b.bin'}:1: binary data (a NUL byte): this is not a configuration file",
        f"Include conf.d/: the 1 other file it names after {tmp_path / 'conf.d' / 'b.bin'} are not read"]
    assert [d.args for d in tree.directives if d.key == "listen"] == [["81"]]


def test_includes_nested_more_than_httpd_allows(tmp_path):
    for i in range(140):
        write(tmp_path / f"c{i}.conf", f"Include c{i + 1}.conf\n")
    write(tmp_path / "c140.conf", "Listen 80\n")
    (error,) = load(str(tmp_path / "c0.conf")).errors
    assert (os.path.basename(error.path), error.line) == ("c128.conf", 1)
    assert "Exceeded the maximum include depth of 128" in error.message


def test_files_including_each_other_twice_stop_at_the_inclusion_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(expand, "MAX_INCLUSIONS", 300)
    for i in range(30):
        write(tmp_path / f"e{i}.conf", f"Include e{i + 1}.conf\nInclude e{i + 1}.conf\n")
    write(tmp_path / "e30.conf", "Listen 80\n")
    started = time.monotonic()
    tree = load(str(tmp_path / "e0.conf"))
    assert time.monotonic() - started < 20
    (error,) = tree.errors
    assert "already included 300 files" in error.message and tree.unresolved


def test_files_included_again_stop_at_their_own_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(expand, "MAX_REREAD_BYTES", 2000)
    write(tmp_path / "part.conf", "Header set A b\n" + "# padding\n" * 50)   # 515 bytes
    main_conf = write(tmp_path / "main.conf", "Include part.conf\n" * 10)
    tree = load(main_conf)
    (error,) = tree.errors
    assert error.line == 5 and "files included again already add" in error.message
    assert [u.span.line for u in tree.unresolved] == [6, 7, 8, 9, 10]


def test_files_including_their_own_directory_stop_at_the_first_cycle(tmp_path):
    # Found by mutation: `Include .` in each of 170 files read them in every order (httpd refuses
    # the cycle at once).
    for i in range(40):
        write(tmp_path / f"case{i:02}.conf", f"Include .\nListen {8000 + i}\n")
    started = time.monotonic()
    tree = load(str(tmp_path / "case20.conf"))
    assert time.monotonic() - started < 10
    (error,) = tree.errors
    assert "include cycle" in error.message


def test_macros_using_macros_twice_stop_at_the_expansion_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(expand, "MAX_EXPANSIONS", 300)
    text = "".join(f"<Macro E{i}>\nUse E{i + 1}\nUse E{i + 1}\n</Macro>\n" for i in range(40))
    text += "<Macro E40>\nHeader set A b\n</Macro>\nUse E0\n"
    started = time.monotonic()
    tree = parse_string(text, str(tmp_path / "m.conf"))
    assert time.monotonic() - started < 20
    (error,) = tree.errors
    assert "is not expanded" in error.message and "300 Uses" in error.message
    assert tree.unresolved and all(u.kind == "macro" for u in tree.unresolved)


def test_a_macro_bomb_opening_sections_stops_at_the_expansion_text_limit(tmp_path):
    # Found by mutation: every expansion re-parses 60 unclosed sections, 2^23 times.
    text = "<Macro M0>\nHeader set X 1\n</Macro>\n<Macro M1>\nUse M0\nUse M0\n" + "<Proxy *>\n" * 60
    text += "</Macro>\n" + "".join(f"<Macro M{i}>\nUse M{i - 1}\nUse M{i - 1}\n</Macro>\n" for i in range(2, 24))
    text += "<VirtualHost *:80>\nUse M23\n</VirtualHost>\n"
    path = write(tmp_path / "bomb.conf", text)
    started = time.monotonic()
    report = clean_lint(path)
    assert time.monotonic() - started < 30
    assert any("already reach 1 MiB of text" in e.message for e in report.errors)


def test_an_include_path_longer_than_any_file_system_allows(tmp_path):
    # Found by mutation: looking for each suffix of 5,000 components took minutes.
    started = time.monotonic()
    tree = parse_string("Include " + "/a" * 5000 + "\nServerRoot " + "/a" * 5000 + "\n"
                        "IncludeOptional " + "a/" * 2040 + "*.conf\n", str(tmp_path / "long.conf"))
    assert time.monotonic() - started < 10
    (error,) = tree.errors
    assert error.line == 1 and "no file system has one longer than 4096" in error.message


# -- deep nesting: an error, never a RecursionError -------------------------------------------

@pytest.mark.parametrize("section", ["Location /", "IfModule x", "Directory /srv", "If \"true\""])
def test_ten_thousand_nested_sections_are_an_error_not_a_recursion_error(tmp_path, section):
    name = section.split()[0]
    path = write(tmp_path / "deep.conf", f"<{section}>\n" * 10_000 + f"</{name}>\n" * 10_000)
    report = clean_lint(path)
    deep = [e for e in report.errors if "nested more than 100 deep" in e.message]
    assert [(e.line, e.column) for e in deep] == [(101, 1)]
    assert "no real configuration nests this deep" in deep[0].message


def test_ten_thousand_unclosed_sections_are_one_error(tmp_path):
    path = write(tmp_path / "deep.conf", "<IfModule x>\n" * 10_000)
    tree = load(path)
    assert [(e.line, e.message) for e in tree.errors if "not closed" in e.message] == [
        (1, "<IfModule> is not closed: expected </IfModule> before the end of the file "
            "(nor are the 9999 sections opened inside it)")]
    clean_lint(path)


def test_nesting_counts_the_sections_around_includes_and_macros(tmp_path):
    write(tmp_path / "inner.conf", "<IfModule a>\n" * 60 + "Header set A b\n" + "</IfModule>\n" * 60)
    outer = write(tmp_path / "outer.conf", "<IfModule b>\n" * 60 + "Include inner.conf\n" + "</IfModule>\n" * 60)
    (error,) = load(outer).errors
    assert (os.path.basename(error.path), error.line) == ("inner.conf", 41)
    assert "counting the sections around the Include or Use" in error.message
    clean_lint(outer)
    macro = "<Macro Deep>\n" + "<IfModule a>\n" * 60 + "</IfModule>\n" * 60 + "</Macro>\n"
    text = macro + "<IfModule b>\n" * 60 + "Use Deep\n" + "</IfModule>\n" * 60
    (error,) = parse_string(text, str(tmp_path / "m.conf")).errors
    assert error.line == 42 and "nested more than 100 deep" in error.message


def test_long_include_and_macro_chains_need_no_stack(tmp_path):
    for i in range(120):
        write(tmp_path / "chain" / f"c{i}.conf", f"Include c{i + 1}.conf\n")
    write(tmp_path / "chain" / "c120.conf", "Listen 80\n")
    assert load(str(tmp_path / "chain" / "c0.conf")).errors == []
    text = "".join(f"<Macro M{i}>\nUse M{i + 1}\n</Macro>\n" for i in range(3000))
    text += "<Macro M3000>\nListen 80\n</Macro>\nUse M0\n"
    tree = parse_string(text, str(tmp_path / "m.conf"))
    assert tree.errors == [] and tree.directives[-1].args == ["80"]


def test_the_cli_exits_2_on_deep_nesting(tmp_path):
    path = write(tmp_path / "deep.conf", "<Location />\n" * 800 + "</Location>\n" * 800)
    result = CliRunner().invoke(main, ["check", "--server", "apache", path])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


# -- crashes found by mutation ----------------------------------------------------------------

def test_unicode_digits_are_not_numbers(tmp_path):
    # Redirect's status and [R=] were read with str.isdigit()/int(): '²' crashed the model;
    # `\d` read '٤٤٣' as port 443 where httpd sees no port at all.
    path = write(tmp_path / "site.conf", "<VirtualHost *:٤٤٣>\n  ServerName m.example.org\n"
                                         "  Redirect ² /a http://x/\n  RewriteEngine on\n"
                                         "  RewriteRule ^/b http://x/ [R=٣٠١]\n</VirtualHost>\nListen 4²3\n")
    report = clean_lint(path)
    assert sorted(e.line for e in report.errors) == [3, 7]
    from linter.apache.build import build

    config = build(load(path))
    assert [l.port for s in config.sites for l in s.listens] == [None]


def test_header_edit_replacements_follow_ap_pregsub(tmp_path):
    # `\q` in the replacement, a `$9` beyond the groups and a trailing condition crashed re.sub.
    path = write(tmp_path / "site.conf", "<VirtualHost *:443>\n  ServerName m.example.org\n"
                                         "  Header always set X-A abc\n"
                                         "  Header always edit X-A (b) \\q$9&$1\n"
                                         "  Header always edit* X-A (c) $2\\& env=!nothing\n"
                                         "  ProxyPass / http://127.0.0.1:8008/\n</VirtualHost>\n")
    clean_lint(path)
    from linter.apache.build import build

    (site,) = build(load(path)).sites
    assert [(h.name, h.value) for h in site.headers if h.name == "X-A"][0] == ("X-A", "a\\qbbc")


# -- what httpd refuses is never clean (checked against apache2 -t below) ---------------------

REFUSED = {
    "vhost-in-vhost": ("<VirtualHost *:80>\n<VirtualHost *:81>\n</VirtualHost>\n</VirtualHost>\n",
                       2, "<VirtualHost> cannot occur within <VirtualHost> section"),
    "vhost-in-location": ("<Location />\n<VirtualHost *:81>\n</VirtualHost>\n</Location>\n", 2, "cannot occur"),
    "location-in-location": ("<Location />\n<IfModule headers_module>\n<Location /a>\n</Location>\n"
                             "</IfModule>\n</Location>\n", 3, "<Location> cannot occur within <Location>"),
    "directory-in-location": ("<Location />\n<Directory />\n</Directory>\n</Location>\n", 2, "cannot occur"),
    "location-in-if": ('<If "true">\n<Location /x>\n</Location>\n</If>\n', 2, "cannot occur"),
    "proxy-in-location": ("<Location />\n<Proxy *>\n</Proxy>\n</Location>\n", 2, "cannot occur"),
    "files-in-location": ("<Location />\n<Files a>\n</Files>\n</Location>\n", 2, "<Files> cannot occur"),
    "location-without-path": ("<Location>\n</Location>\n", 1, "requires additional arguments"),
    "ifmodule-without-module": ("<IfModule>\n</IfModule>\n", 1, "requires additional arguments"),
    "ifdefine-without-name": ("<IfDefine>\n</IfDefine>\n", 1, "requires additional arguments"),
    "filesmatch-without-pattern": ("<FilesMatch>\n</FilesMatch>\n", 1, "requires additional arguments"),
    "else-with-argument": ('<If "true">\n</If>\n<Else x>\n</Else>\n', 3, "does not take an argument"),
    "unclosed": ("<VirtualHost *:80>\nServerName a\n", 1, "is not closed"),
    "mismatched-close": ("<Location />\n</Directory>\n", 2, "expected </Location>"),
    "stray-close": ("ServerName a\n</Location>\n", 2, "without matching"),
    "proxypass-path-in-location": ("<Location />\nProxyPass /a http://x/\n</Location>\n", 2,
                                   "can not have a path when defined in a location"),
    "proxypass-in-directory": ("<Directory />\nProxyPass /a http://x/\n</Directory>\n", 2,
                               "ProxyPass cannot occur within <Directory> section"),
    "proxypass-in-if": ('<If "true">\nProxyPass http://x/\n</If>\n', 2, "cannot occur within <If>"),
    "proxypass-in-limit": ("<Location />\n<Limit GET>\nProxyPass http://x/\n</Limit>\n</Location>\n", 3,
                           "<Limit> or <LimitExcept>"),
    "proxypass-one-argument": ("ProxyPass /a\n", 1, "needs a path and a URL"),
    "proxypass-bad-parameter": ("ProxyPass /a http://x/ foo\n", 1, "'key=value'"),
    "proxypass-relative-url": ("ProxyPass /a /b\n", 1, "URL must be absolute"),
    "proxypassreverse-path-in-location": ("<Location />\nProxyPassReverse / http://x/\n</Location>\n", 2,
                                          "can not have a path"),
    "proxypassreverse-one-argument": ("<VirtualHost *:80>\nProxyPassReverse /a\n</VirtualHost>\n", 2,
                                      "needs a path"),
    "listen-in-vhost": ("<VirtualHost *:80>\nListen 81\n</VirtualHost>\n", 2, "Listen cannot occur"),
    "listen-unicode-digits": ("Listen 4²3\n", 1, "a port must be specified"),
    "listen-arabic-digits": ("Listen ٨١\n", 1, "a port must be specified"),
    "listen-huge": ("Listen 99999999999999999999\n", 1, "invalid port"),
    "listen-zero": ("Listen 0\n", 1, "invalid port"),
    "listen-no-host": ("Listen :81\n", 1, "invalid address or port"),
    "listen-three-arguments": ("Listen 81 http extra\n", 1, "takes one to two arguments"),
    "vhost-port-zero": ("<VirtualHost *:0>\n</VirtualHost>\n", 1, "the address or port is invalid"),
    "vhost-port-huge": ("<VirtualHost *:99999999999999999>\n</VirtualHost>\n", 1, "address or port"),
    "servername-in-location": ("<Location />\nServerName a\n</Location>\n", 2, "not allowed here"),
    "servername-four-words": ("ServerName your.server.name # EDIT THIS\n", 1, "takes one argument"),
    "servername-empty": ('ServerName ""\n', 1, "takes one argument"),
    "flag-not-on-off": ("ProxyPreserveHost yes\n", 1, "must be On or Off"),
    "rewriteengine-alone": ("RewriteEngine\n", 1, "must be On or Off"),
    "allowencodedslashes-value": ("AllowEncodedSlashes maybe\n", 1, "On, Off, or NoDecode"),
    "redirect-without-url": ("<VirtualHost *:80>\nRedirect /a\n</VirtualHost>\n", 2,
                             "URL to redirect to is missing"),
    "require-in-vhost": ("<VirtualHost *:80>\nRequire all denied\n</VirtualHost>\n", 2, "not allowed here"),
    "requireany-in-vhost": ("<VirtualHost *:80>\n<RequireAny>\nRequire all denied\n</RequireAny>\n"
                            "</VirtualHost>\n", 2, "not allowed here"),
    "order-in-vhost": ("<VirtualHost *:80>\nOrder allow,deny\n</VirtualHost>\n", 2, "not allowed here"),
    "redirect-to-non-url": ("Redirect /a b\n", 1, "non-URL"),
    "redirect-status-with-url": ("Redirect 410 /a http://x\n", 1, "not valid for status 410"),
    "redirect-bad-first-of-three": ("Redirect ² /a http://x/\n", 1, "invalid first argument"),
    "redirectmatch-one-argument": ("RedirectMatch ^/a\n", 1, "takes two to three arguments"),
    "rewriterule-one-argument": ("RewriteRule ^a\n", 1, "at least two arguments"),
    "rewriterule-flags-without-brackets": ("RewriteRule ^a b L\n", 1, "bad flag delimiters"),
    "rewriterule-unknown-flag": ("RewriteRule ^a b [L,Q]\n", 1, "unknown flag 'Q'"),
    "rewriterule-empty-flag": ("RewriteRule ^a b [L,,NC]\n", 1, "unknown flag ''"),
    "rewriterule-bne-without-value": ("RewriteRule ^a b [BNE]\n", 1, "BNE"),
    "rewriterule-bad-status": ("RewriteRule ^a b [R=999]\n", 1, "invalid HTTP response code '999'"),
    "rewriterule-unbalanced-regex": ("RewriteRule ^(a b [L]\n", 1, "missing closing parenthesis"),
    "rewritecond-unknown-flag": ("RewriteCond %{HTTP_HOST} a [X]\n", 1, "unknown flag 'X'"),
    "rewritecond-one-argument": ("RewriteCond %{HTTP_HOST}\n", 1, "at least two arguments"),
    "locationmatch-too-deep": ('<LocationMatch "' + "(" * 251 + "a" + ")" * 251 + '">\n</LocationMatch>\n',
                               1, "nested more than 250 deep"),
    "header-without-value": ("Header always set X\n", 1, "requires a header name and a value"),
    "header-unknown-clause": ("Header set X y z\n", 1, "unknown parameter 'z'"),
    "header-unset-with-value": ("Header unset X y\n", 1, "unknown parameter 'y'"),
    "header-bad-action": ("Header frob X y\n", 1, "first argument must be"),
    "header-too-many": ("Header set X y env=a extra\n", 1, "too many arguments"),
    "header-edit-without-substitution": ("Header edit X a\n", 1, "requires a header name, a match"),
    "requestheader-always": ("RequestHeader always set X y\n", 1, "first argument must be"),
    "invalid-command-name": ("foo:bar x\n", 1, "Invalid command 'foo:bar'"),
    "define-name-with-colon": ("Define a:b c\n", 1, "must not contain ':'"),
    "use-wrong-count": ("<Macro M $a>\nListen $a\n</Macro>\nUse M\n", 4, "takes 1 argument, but this Use gives 0"),
}

ACCEPTED = {
    "proxypass-in-location": "<Location />\nProxyPass http://x/ nocanon retry=0\n</Location>\n",
    "proxypass-exclusion-in-location": "<Location />\nProxyPass !\n</Location>\n",
    "proxypass-regex-with-tilde": "ProxyPass ~ ^/a http://x/\n",
    "proxypass-unix-socket": "ProxyPass /a unix:/run/s.sock|http://localhost/ nocanon\n",
    "proxypassreverse-in-location": "<Location />\nProxyPassReverse http://x/\n</Location>\n",
    "files-in-directory-and-if": '<Directory />\n<Files a>\n</Files>\n</Directory>\n<If "true">\n<Files b>\n'
                                 "</Files>\n</If>\n",
    "if-in-if": '<If "true">\n<If "true">\n</If>\n</If>\n',
    "proxy-without-url": "<Proxy>\n</Proxy>\n",
    "directory-in-vhost": "<VirtualHost *:80>\n<IfModule headers_module>\n<Directory />\n</Directory>\n"
                          "</IfModule>\n</VirtualHost>\n",
    "listen-forms": "Listen 127.0.0.1:8081\nListen [::1]:8082\nListen 8083 https\nListen 65535\n",
    "listen-in-ifmodule": "<IfModule headers_module>\nListen 8084\n</IfModule>\n",
    "vhost-addresses": "<VirtualHost *:* _default_:443 localhost>\n</VirtualHost>\n",
    "flag-with-trailing-words": "ProxyPreserveHost Off # a comment httpd ignores\n",
    "redirect-forms": "Redirect gone /a\nRedirect 404 /b\nRedirect a http://x/\nRedirect 301 /c /d\n"
                      "RedirectPermanent /e http://x/\nRedirectMatch 301 ^/f http://x/\n"
                      "<Location /g>\nRedirect http://x/\n</Location>\n",
    "rewriterule-flags": "RewriteRule ^a b [L,R=301]\nRewriteRule ^a b [lAsT]\nRewriteRule ^a b [R=abc]\n"
                         "RewriteRule ^a b [N=5,DPI,BNE=x,CO=a:b:c,E=a:1,QSA,UnsafeAllow3F]\n"
                         "RewriteRule ^a b [L] ignored\nRewriteRule ^a b [R=200]\n",
    "rewritecond-flags": "RewriteCond %{HTTP_HOST} a [NC,OR]\nRewriteCond expr \"true\"\n"
                         "RewriteCond %{HTTP_HOST} a [novary,nocase,ornext]\n",
    "rewrite-map-reference": 'RewriteRule "^p/(.*)" "/p.php?id=${map:$1|NOTFOUND}" [PT]\n',
    "header-forms": "Header echo\nHeader echo X\nHeader unset X early\nHeader note X Y\n"
                    "Header onsuccess unset X\nHeader set X y env=!a\nHeader set X y expr=true\n"
                    "Header edit* X a b\nHeader ALWAYS SET X y\nRequestHeader unset X\n"
                    'RequestHeader set X "y" early\nHeader set X:y z\n',
    "locationmatch-nested-250": '<LocationMatch "' + "(" * 250 + "a" + ")" * 250 + '">\n</LocationMatch>\n',
    "quoted-directive-name": '"ServerName" x\n',
    "allowencodedslashes": "AllowEncodedSlashes NoDecode\n",
}


def test_a_snippets_top_level_may_be_a_directory_context(tmp_path):
    # A file without <VirtualHost> is included somewhere we cannot see (build.py models it so):
    # inside a <Location>, these lines are valid; in a virtual host or apache2.conf they are not.
    body = ("Require all granted\nProxyPass http://127.0.0.1:8008/\nProxyPassReverse http://127.0.0.1:8008/\n"
            "Redirect http://x/\nOrder allow,deny\n")
    assert errors(load(write(tmp_path / "matrix-location.conf", body))) == []
    assert len(load(write(tmp_path / "apache2.conf", body)).errors) == 5
    vhost = write(tmp_path / "site.conf", f"<VirtualHost *:443>\n{body}</VirtualHost>\n")
    assert [e.line for e in load(vhost).errors] == [2, 3, 4, 5, 6]
    # What httpd refuses in every context still is an error in a snippet.
    assert [e.line for e in load(write(tmp_path / "bad.conf", "ProxyPass /a /b\nRedirect 410 /a http://x\n")).errors] \
        == [1, 2]


def test_an_argument_with_a_variable_no_file_defines_is_not_judged(tmp_path):
    # httpd substitutes ${X} from its environment too (Debian's envvars): unknown, not wrong.
    path = write(tmp_path / "site.conf", "Listen ${APACHE_PORT}\nProxyPass ${P} http://x/\n"
                                         "<VirtualHost ${ADDR}>\n</VirtualHost>\n")
    assert errors(load(path)) == []


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_httpd_refuses_is_an_error(tmp_path, name):
    text, line, message = REFUSED[name]
    path = write(tmp_path / f"{name}.conf", text)
    tree = load(path)
    assert any(e.line == line and message in e.message for e in tree.errors), errors(tree)
    report = clean_lint(path)
    assert report.errors


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_what_httpd_accepts_stays_clean(tmp_path, name):
    path = write(tmp_path / f"{name}.conf", ACCEPTED[name])
    assert errors(load(path)) == []


APACHE2 = shutil.which("apache2") or ("/usr/sbin/apache2" if os.path.exists("/usr/sbin/apache2") else None)
MODULES = "/usr/lib/apache2/modules"
NEEDED = ["mpm_event", "authz_core", "authn_core", "proxy", "proxy_http", "proxy_fcgi", "headers",
          "rewrite", "alias", "macro", "ssl", "socache_shmcb", "setenvif", "access_compat"]


def apache2_accepts(path: str, workdir) -> bool:
    lines = ["ServerName localhost", "Listen 127.0.0.1:18098", f"PidFile {workdir}/httpd.pid",
             f"DefaultRuntimeDir {workdir}", f"Mutex file:{workdir}", f"ErrorLog {workdir}/error.log"]
    lines += [f"LoadModule {m}_module {MODULES}/mod_{m}.so" for m in NEEDED
              if os.path.exists(f"{MODULES}/mod_{m}.so")]
    wrapper = workdir / "wrapper.conf"
    wrapper.write_text(f"ServerRoot {workdir}\n" + "\n".join(lines) + f'\nInclude "{path}"\n')
    run = subprocess.run([APACHE2, "-t", "-f", str(wrapper)], capture_output=True, timeout=30,
                         env={"PATH": "/usr/bin:/bin"})
    return run.returncode == 0


@pytest.mark.skipif(APACHE2 is None or not os.path.isdir(MODULES), reason="apache2 is not installed")
def test_the_tables_agree_with_apache2(tmp_path):
    wrong = []
    for name, (text, _, _) in sorted(REFUSED.items()):
        path = write(tmp_path / "cases" / f"{name}.conf", text)
        if apache2_accepts(path, tmp_path):
            wrong.append(f"apache2 accepts {name}")
    for name, text in sorted(ACCEPTED.items()):
        path = write(tmp_path / "cases" / f"{name}.conf", text)
        if not apache2_accepts(path, tmp_path):
            wrong.append(f"apache2 refuses {name}")
    assert wrong == []
