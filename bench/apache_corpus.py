"""Measure the Apache httpd front end on the shared corpus against apache2 itself.

    python bench/apache_corpus.py [--apache2 /usr/sbin/apache2] [--no-apache] [-v]

For every `server=apache` row of ../shared/corpus/SOURCES.tsv:
1. load it with linter.apache.parse.load twice -- `defines=None` (the default: -D parameters
   unknown) and `defines={Debian's envvars}` (labelled "{}": no -D parameters, and the
   ${APACHE_*} values the apache2 -t run below gets from its environment) -- noting
   tracebacks and errors;
2. ask `apache2 -t` whether it accepts the file. Most corpus files are fragments, so the file
   is `Include`d from a wrapper that loads every module in /usr/lib/apache2/modules (one MPM),
   with ServerRoot = the file's directory (the same root `load` defaults to) and writable
   pid/runtime/log paths; it is tried at server level, then inside `<VirtualHost>`, then
   inside `<Directory />`, and counts as accepted if any of the three passes. SSL certificate
   and key paths are pointed at a dummy self-signed pair first (most Matrix examples name
   certificates that exist only on their author's machine);
3. for files accepted at server level, compare our directives with what httpd itself read:
   `apache2 -t -D DUMP_CONFIG` (mod_info) prints every directive after Include, IfDefine,
   IfModule and mod_macro were executed, with its file and line. Our tree (defines={}) is
   flattened the same way (IfModule evaluated against the loaded modules) and compared entry
   by entry: directive name, arguments (httpd's raw arguments split with ap_getword_conf's
   rules), and, outside macro expansions, file and line. Files with <IfVersion>, <IfFile>,
   <IfDirective> or <IfSection> are not compared;
4. report: files, tracebacks, files with errors, files apache2 accepts, accepted files we
   report errors for (should be none; listed with -v), and the DUMP_CONFIG comparison.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, ROOT)

MODULES = "/usr/lib/apache2/modules"
# Modules others depend on are loaded first; one MPM; mod_md wants a writable store.
_FIRST = ["mpm_event", "authz_core", "authn_core", "proxy", "dav", "ldap", "session", "cache",
          "xml2enc", "dbd", "socache_shmcb", "slotmem_shm", "proxy_balancer"]
_SKIP = {"mpm_prefork", "mpm_worker", "md"}
_WRAPS = [("", ""), ("<VirtualHost 127.0.0.1:18099>\n", "</VirtualHost>\n"),
          ("<Directory />\n", "</Directory>\n")]


def base_config(workdir: str) -> str:
    names = sorted(f[4:-3] for f in os.listdir(MODULES) if f.startswith("mod_") and f.endswith(".so"))
    order = [n for n in _FIRST if n in names] + [n for n in names if n not in _FIRST and n not in _SKIP]
    lines = ["ServerName localhost", "Listen 127.0.0.1:18099", f"PidFile {workdir}/httpd.pid",
             f"DefaultRuntimeDir {workdir}", f"Mutex file:{workdir}", f"ErrorLog {workdir}/error.log",
             "User nobody", "Group nogroup"]
    lines += [f"LoadModule {n}_module {MODULES}/mod_{n}.so" for n in order]
    return "\n".join(lines) + "\n"


def debian_environment(workdir: str) -> dict:
    """What Debian's /etc/apache2/envvars exports (many configs use ${APACHE_LOG_DIR})."""
    return {"APACHE_RUN_USER": "nobody", "APACHE_RUN_GROUP": "nogroup", "APACHE_RUN_DIR": workdir,
            "APACHE_PID_FILE": f"{workdir}/apache2.pid", "APACHE_LOCK_DIR": workdir,
            "APACHE_LOG_DIR": workdir}


_CERTIFICATE = re.compile(r"^([ \t]*)(SSLCertificateFile|SSLCertificateKeyFile|SSLCertificateChainFile|"
                          r"SSLCACertificateFile)[ \t]+[^\n]*$", re.I | re.M)


def dummy_certificates(workdir: str) -> bool:
    run = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                          "-subj", "/CN=localhost", "-keyout", f"{workdir}/key.pem",
                          "-out", f"{workdir}/cert.pem"], capture_output=True)
    return run.returncode == 0


def checked_copy(path: str, workdir: str) -> str:
    """The file apache2 checks: `path` itself, or a copy whose certificate paths point at dummy
    files (most Matrix examples name certificates that exist only on their author's server).
    Only whole lines change, so line numbers stay valid."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError:
        return path
    def dummy(match: re.Match) -> str:
        kind = "key" if "key" in match.group(2).lower() else "cert"
        return f"{match.group(1)}{match.group(2)} {workdir}/{kind}.pem"
    changed = _CERTIFICATE.sub(dummy, text)
    if changed == text or not os.path.exists(f"{workdir}/cert.pem"):
        return path
    copy = os.path.join(workdir, "with-dummy-certificates.conf")
    with open(copy, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(changed)
    return copy


def apache_accepts(apache2: str, path: str, workdir: str, base: str) -> bool:
    root, path = os.path.dirname(path), checked_copy(path, workdir)
    wrapper = os.path.join(workdir, "check.conf")
    for before, after in _WRAPS:
        with open(wrapper, "w", encoding="utf-8") as f:
            f.write(f'ServerRoot "{root}"\n{base}{before}Include "{path}"\n{after}')
        try:
            run = subprocess.run([apache2, "-t", "-f", wrapper], capture_output=True, timeout=30,
                                 env={"PATH": "/usr/bin:/bin", **debian_environment(workdir)})
        except subprocess.TimeoutExpired:
            continue
        if run.returncode == 0:
            return True
    return False


_SKIPPED = {"define", "undefine", "include", "includeoptional", "serverroot", "defaultruntimedir",
            "defaultstatedir", "loadmodule", "loadfile", "use", "undefmacro", "macro",
            "macroignoreemptyargs", "macroignorebadnesting", "remoteipinternalproxylist",
            "remoteiptrustedproxylist", "luaauthzprovider"}
_UNDECIDED = {"ifversion", "iffile", "ifdirective", "ifsection"}


class Undecided(Exception):
    pass


def getwords(raw: str) -> list[str]:
    """httpd's ap_getword_conf applied until the line is used up (independent of the parser)."""
    words, i, n = [], 0, len(raw)
    while True:
        while i < n and raw[i] in " \t\n\v\f\r":
            i += 1
        if i >= n:
            return words
        quote = raw[i] if raw[i] in "\"'" else ""
        j = i + 1 if quote else i
        while j < n and (raw[j] != quote if quote else raw[j] not in " \t\n\v\f\r"):
            j += 2 if (raw[j] == "\\" and j + 1 < n and raw[j + 1] in (quote or "\\", "\\")) else 1
        body = raw[i + 1:j] if quote else raw[i:j]
        out, k = [], 0
        while k < len(body):
            if body[k] == "\\" and k + 1 < len(body) and (body[k + 1] == "\\" or (quote and body[k + 1] == quote)):
                k += 1
            out.append(body[k])
            k += 1
        words.append("".join(out))
        i = j + 1 if quote and j < n else j


def loaded_modules(apache2: str, workdir: str, base: str) -> set[str]:
    wrapper = os.path.join(workdir, "modules.conf")
    with open(wrapper, "w", encoding="utf-8") as f:
        f.write(f"ServerRoot {workdir}\n{base}")
    run = subprocess.run([apache2, "-t", "-D", "DUMP_MODULES", "-f", wrapper], capture_output=True,
                         text=True, env={"PATH": "/usr/bin:/bin"})
    names = set()
    for module in re.findall(r"^ (\w+)_module ", run.stdout, re.M):
        names |= {f"{module}_module", f"mod_{module}.c"}
    return names | {"core.c", "http_core.c", "event.c", "mod_so.c"}


def flatten(directives, modules: set[str]):
    """(line or None, path or None, name, args) as DUMP_CONFIG would list our tree."""
    for d in directives:
        key = d.key
        if key in _SKIPPED:
            continue
        if key in _UNDECIDED:
            raise Undecided(key)
        where = (None, None) if "use" in d.extra else (d.span.end_line, d.span.path)
        if key == "ifdefine":
            if d.extra.get("active") is not False:
                yield from flatten(d.block, modules)
        elif key == "ifmodule":
            name = d.args[0] if d.args else ""
            if (name.lstrip("!") in modules) != name.startswith("!"):
                yield from flatten(d.block, modules)
        elif d.block is not None:
            yield (*where, "<" + key, d.args)
            children = list(flatten(d.block, modules))
            yield from children
            if children:  # mod_info prints no closing tag for an empty section
                yield (None, None, "</" + key, [])
        else:
            yield (*where, key, d.args)


def dump_config(apache2: str, path: str, workdir: str, base: str):
    """httpd's own (line, path, name, args) list for the file, or None if it cannot be had."""
    original, checked = path, checked_copy(path, workdir)
    wrapper = os.path.join(workdir, "dump.conf")
    with open(wrapper, "w", encoding="utf-8") as f:
        f.write(f'ServerRoot "{os.path.dirname(original)}"\n{base}Include "{checked}"\n')
    run = subprocess.run([apache2, "-t", "-D", "DUMP_CONFIG", "-f", wrapper], capture_output=True,
                         text=True, errors="replace", timeout=30,
                         env={"PATH": "/usr/bin:/bin", **debian_environment(workdir)})
    if run.returncode != 0:
        return None
    entries, file, line = [], None, None
    for text in run.stdout.splitlines():
        text = text.strip()
        if text.startswith("# In file:"):
            file = text[len("# In file:"):].strip()
            file = original if file == checked else file
        elif re.match(r"#\s*\d+:$", text):
            line = int(text[1:-1])
        elif text and not text.startswith("#") and file != wrapper:
            name, _, raw = text.partition(" ")
            if name.startswith("</"):
                entries.append((None, None, name.rstrip(">").lower(), []))
                continue
            if name.startswith("<"):
                raw = raw[:raw.rindex(">")] if ">" in raw else raw
            macro = file.startswith("macro ")
            entries.append((None if macro else line, None if macro else file, name.lower(), getwords(raw)))
    return entries


def compare(ours: list, theirs: list) -> str:
    """'' when equal, else a description of the first difference."""
    masked = {"sslcertificatefile", "sslcertificatekeyfile", "sslcertificatechainfile",
              "sslcacertificatefile"}  # their paths were replaced by dummies for apache2
    ours = [(l, p, n, ["..."] if n in masked else a) for l, p, n, a in ours]
    theirs = [(l, p, n, ["..."] if n in masked else a) for l, p, n, a in theirs]
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a != b:
            return f"entry {i}: ours {a} / httpd {b}"
    if len(ours) != len(theirs):
        return f"ours has {len(ours)} entries, httpd {len(theirs)}"
    return ""


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    options.add_argument("--apache2", default="/usr/sbin/apache2")
    options.add_argument("--no-apache", action="store_true", help="only parse, do not run apache2")
    options.add_argument("-v", "--verbose", action="store_true")
    options.add_argument("--only", help="only corpus paths containing this text")
    args = options.parse_args()

    from corpus import rows
    from linter.apache.parse import load

    check = not args.no_apache and os.access(args.apache2, os.X_OK)
    workdir = tempfile.mkdtemp(prefix="apache-corpus-")
    base = base_config(workdir) if check else ""
    if check and not dummy_certificates(workdir):
        print("openssl failed: certificate paths are checked as written", file=sys.stderr)
    modules = loaded_modules(args.apache2, workdir, base) if check else set()
    files = crashes = with_errors = accepted = compared = same = 0
    differences = []
    disagree: dict[str, list] = {"None": [], "{}": []}
    parse_seconds = 0.0
    for row in rows(server="apache"):
        if args.only and args.only not in row["local_path"]:
            continue
        files += 1
        path = row["abspath"]
        errors = {}
        trees = {}
        # "None": the default (-D parameters unknown); "{}": what apache2 -t runs with (no -D
        # parameter; Debian's envvars as variables, which httpd takes from the environment).
        for label, defines in (("None", None), ("{}", debian_environment(workdir))):
            started = time.perf_counter()
            try:
                tree = load(path, defines=defines)
            except Exception:
                crashes += 1
                print(f"TRACEBACK {row['local_path']}\n{traceback.format_exc()}", file=sys.stderr)
                errors[label] = ["traceback"]
                continue
            finally:
                parse_seconds += time.perf_counter() - started
            errors[label] = tree.errors
            trees[label] = tree
        with_errors += bool(errors["None"])
        if check and apache_accepts(args.apache2, path, workdir, base):
            accepted += 1
            for label in disagree:
                if errors[label]:
                    disagree[label].append((row["local_path"], errors[label][0]))
            theirs = dump_config(args.apache2, path, workdir, base) if "{}" in trees else None
            if theirs is not None:
                try:
                    ours = list(flatten(trees["{}"].directives, modules))
                except Undecided:
                    continue
                compared += 1
                difference = compare(ours, theirs)
                if difference:
                    differences.append((row["local_path"], difference))
                else:
                    same += 1
    print(f"files: {files}")
    print(f"tracebacks: {crashes}")
    print(f"files with errors (defines=None): {with_errors}")
    print(f"parse time, both passes: {parse_seconds:.2f} s")
    if check:
        print(f"accepted by apache2 -t: {accepted}")
        for label, items in disagree.items():
            print(f"accepted by apache2 -t but errors with defines={label}: {len(items)}")
            if args.verbose:
                for name, error in items:
                    print(f"    {name}: {error}")
        print(f"compared with apache2 -D DUMP_CONFIG: {compared}, identical: {same}")
        for name, difference in differences if args.verbose else ():
            print(f"    {name}: {difference}")
    else:
        print("apache2 -t: not run")
    shutil.rmtree(workdir, ignore_errors=True)
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
