"""The `matrix-proxy-lint` command.

Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage, I/O or configuration errors,
3 an internal error (a bug in the linter; the other files are still linted and reported).
"""
from __future__ import annotations

import os
import sys

import click

from linter import __version__
from linter.detect import SERVERS
from linter.rule import SEVERITIES

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR, EXIT_INTERNAL = 0, 1, 2, 3
REPORT_HINT = ("this is a bug in matrix-proxy-lint: please report it with the file that caused it "
               "(run with --debug for the traceback)")


def _version(ctx, param, value):
    from linter.settings import parse_version

    return _converted(parse_version, value)


def _converted(convert, value):
    """A project-configuration converter as a click callback: one parser for both."""
    if value is None or value == "":
        return None
    try:
        return convert(value)
    except ValueError as e:
        raise click.BadParameter(str(e))


def _codes(ctx, param, value):
    return tuple(c.strip() for v in value for c in v.split(",") if c.strip())


def colour_wanted(stream=None) -> bool:
    """no-color.org, force-color.org and bixense.com/clicolors, in that order; else a terminal."""
    env = os.environ
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR") or env.get("CLICOLOR_FORCE", "0") not in ("", "0"):
        return True
    if env.get("CLICOLOR") == "0":
        return False
    stream = stream or sys.stdout
    return stream.isatty() and env.get("TERM") != "dumb"


def _size(ctx, param, value):
    from linter.settings import parse_size_option

    return _converted(parse_size_option, value)


class _Guarded(click.Group):
    """A bug that escapes a command ends the run with exit 3 and one line, never exit 1 (which
    CI reads as "findings") and never a bare traceback unless --debug asks for it."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as error:
            if (ctx.obj or {}).get("debug"):
                import traceback

                traceback.print_exc()
            from linter.output import printable

            click.echo(f"internal error: {printable(type(error).__name__ + ': ' + str(error))[:300]}", err=True)
            click.echo(REPORT_HINT, err=True)
            sys.exit(EXIT_INTERNAL)


@click.group(cls=_Guarded, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="matrix-proxy-lint", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, envvar="MPL_DEBUG", help="Print the traceback of an internal error.")
@click.pass_context
def main(ctx, debug):
    """Find the reverse-proxy mistakes that break Matrix homeservers (nginx, Apache, Caddy, HAProxy).

    Exit codes: 0 clean, 1 findings, 2 usage or configuration errors, 3 internal error.
    """
    ctx.obj = {"debug": debug}


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--server", type=click.Choice(SERVERS), help="Treat every file as this server's config.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github", "sarif", "gitlab", "junit", "checkstyle",
                                                   "html"]), default="text", show_default=True,
              help="github: annotations for GitHub Actions; sarif: GitHub code scanning; gitlab: Code Quality; "
                   "html: a self-contained audit report.")
@click.option("--prefix", type=click.Path(file_okay=False),
              help="The server's prefix/config dir, to resolve relative includes of a copied tree.")
@click.option("--nginx-version", callback=_version, help="Target nginx version, e.g. 1.26.0.")
@click.option("--haproxy-version", callback=_version, help="Target HAProxy version, e.g. 2.8 (default: 2.6).")
@click.option("--caddy-directive", "caddy_directives", multiple=True, callback=_codes,
              help="A directive your Caddy build adds (a plugin's); repeatable or comma-separated.")
@click.option("--homeserver-config", type=click.Path(dir_okay=False),
              help="The homeserver's configuration (Synapse homeserver.yaml, Dendrite YAML, conduwuit/"
                   "continuwuity/tuwunel TOML), to check the proxy against it.")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="warning", show_default=True,
              help="Lowest severity that makes the exit code 1.")
@click.option("--select", multiple=True, callback=_codes, help="Only these rules (codes, prefixes or slugs).")
@click.option("--ignore", multiple=True, callback=_codes, help="Skip these rules (codes, prefixes or slugs).")
@click.option("--include-path", "include_paths", multiple=True, type=click.Path(file_okay=False, exists=True),
              help="A directory holding copies of files the configs include from the server (repeatable). "
                   "Searched after the checked tree, before the linter's knowledge of standard files.")
@click.option("--strict-includes", is_flag=True,
              help="An include that cannot be read is an error (exit 2), not an MPL001 note.")
@click.option("--root", type=click.Path(file_okay=False, exists=True),
              help="Where to look for the configs that include a given file (default: the repository "
                   "holding the file, else its directory).")
@click.option("--hook", is_flag=True,
              help="The paths come from a hook (pre-commit): skip files that are not a proxy config "
                   "with a note instead of an error.")
@click.option("--max-file-size", callback=_size, help="Largest file to read (default 4M).")
@click.option("--max-total-size", callback=_size, help="Most one configuration may read with its includes (default 8M).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True),
              help="The project configuration to use (default: .matrix-proxy-lint.toml or pyproject.toml's "
                   "[tool.matrix-proxy-lint], found upward from the first path, up to the repository root).")
@click.option("--isolated", is_flag=True, help="Ignore every project configuration file.")
@click.option("--fix", is_flag=True, help="Apply the mechanical fixes to the files, then report what is left.")
@click.option("--diff", is_flag=True, help="Print the mechanical fixes as a unified diff; change nothing "
                                           "(exit 1 when there is one).")
@click.option("--baseline", type=click.Path(dir_okay=False),
              help="Report only the findings this baseline (from --write-baseline) does not hold.")
@click.option("--write-baseline", type=click.Path(dir_okay=False),
              help="Write every current finding to this baseline file, then exit 0.")
@click.option("--suppress-all", metavar="REASON",
              help="Add a `# matrix-proxy-lint: ignore[CODE] REASON` comment above every finding (to adopt "
                   "the linter on an existing deployment), then exit 0.")
@click.option("--stdin-filename", help="With `-`: the path the text on stdin stands for (its name, includes, "
                                       "and the project configuration that applies).")
@click.option("--quiet", "-q", is_flag=True, help="Only the findings and errors: no summary, no notes.")
@click.option("--statistics", is_flag=True, help="Count findings per rule instead of listing them.")
@click.option("--output-file", "-o", type=click.Path(dir_okay=False, writable=True),
              help="Write the report to this file instead of stdout.")
@click.pass_context
def check(ctx, paths, server, fmt, prefix, nginx_version, haproxy_version, caddy_directives, homeserver_config,
          fail_on, select, ignore,
          include_paths, strict_includes, root, hook, max_file_size, max_total_size, config_file, isolated, quiet,
          statistics, output_file, stdin_filename, suppress_all, baseline, write_baseline, fix, diff):
    """Lint configuration files or directories.

    A directory: its entry points (the configs no other config in it includes), each with what it
    includes. A file: inside every config of its repository that includes it (--root), reporting
    what is in the file itself. `-`: the text on stdin (a config, or `nginx -T` output).
    """
    import contextlib

    from linter.inputs import given_on_stdin

    with contextlib.ExitStack() as stack:
        if "-" in paths:
            name = stdin_filename or "<stdin>"
            stack.enter_context(given_on_stdin(name, sys.stdin.buffer.read()))
            paths = tuple(name if p == "-" else p for p in paths)
        elif stdin_filename:
            raise click.BadParameter("only with `-` as the path", param_hint="--stdin-filename")
        code = _check(ctx, paths, config_file, isolated, hook)
    sys.exit(code)


def _check(ctx, paths, config_file, isolated, hook) -> int:
    from linter.engine import UNRESOLVED_INCLUDE, lint
    from linter.output import statistics_text, summary_text, to_github, to_json, to_text

    project = _project_settings(ctx, paths, config_file, isolated)
    given = dict(ctx.params)
    for name, value in project.options.items():
        if name in given and ctx.get_parameter_source(name) in (None, click.core.ParameterSource.DEFAULT):
            given[name] = value
    server, fmt, prefix, fail_on = given["server"], given["fmt"], given["prefix"], given["fail_on"]
    select, ignore, quiet, statistics = given["select"], given["ignore"], given["quiet"], given["statistics"]
    _check_codes(select + ignore)
    options = dict(server=server, prefix=prefix, nginx_version=given["nginx_version"],
                   haproxy_version=given["haproxy_version"], caddy_directives=given["caddy_directives"],
                   homeserver_config=given["homeserver_config"],
                   select=select, ignore=ignore, include_paths=given["include_paths"],
                   strict_includes=given["strict_includes"], includers=True, root=given["root"], hook=hook,
                   exclude=project.exclude, per_path=project.per_path, severity=project.severity,
                   keep_models=fmt == "html",
                   **{k: v for k, v in (("max_file_bytes", given["max_file_size"]),
                                        ("max_total_bytes", given["max_total_size"])) if v})
    report = lint(paths, **options)
    if given["diff"] or given["fix"]:
        changes = _fixes(report)
        if given["diff"]:
            from linter.fixes import unified_diff

            for path, (old, new, _) in changes.items():
                click.echo(unified_diff(path, old, new), nl=False)
            return EXIT_FINDINGS if changes else EXIT_CLEAN
        for path, (_, new, _) in changes.items():
            with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
                fh.write(new)
        fixed = sum(len(applied) for _, _, applied in changes.values())
        report = lint(paths, **options)     # what is left, at its new positions
        report.notes.insert(0, f"fixed {fixed} finding{'s' if fixed != 1 else ''} in {len(changes)} "
                               f"file{'s' if len(changes) != 1 else ''}")
    if given["suppress_all"] is not None:
        return _suppress_all(report, given["suppress_all"])
    if given["write_baseline"]:
        return _write_baseline(report, given["write_baseline"])
    if given["baseline"]:
        _apply_baseline(report, given["baseline"])
    output_file = given["output_file"]
    out = open(output_file, "w", encoding="utf-8") if output_file else None
    try:
        colour = out is None and colour_wanted()
        # click.echo strips colour from a pipe unless told: FORCE_COLOR means a pipe wants it.
        echo = (lambda text: click.echo(text, file=out)) if out else (lambda text: click.echo(text, color=colour))
        if statistics:
            if report.errors:
                echo(to_text(report, colour, summary=False, findings=False) + "\n")
            if report.findings:
                echo(statistics_text(report))
            if not quiet:
                _notes(report)
                echo(summary_text(report, colour))
        elif fmt == "json":
            echo(to_json(report))
        elif fmt == "sarif":
            from linter.formats import FORMATS

            echo(FORMATS["sarif"](report))      # notes are inside the log
        elif fmt in ("gitlab", "junit", "checkstyle"):
            from linter.formats import FORMATS

            if not quiet:
                _notes(report)
            echo(FORMATS[fmt](report))
        elif fmt == "html":
            from linter.formats.html import to_html

            if not quiet:
                _notes(report)
            echo(to_html(report, report.configs))
        elif fmt == "github":
            _github_extras(report)
            if not quiet:
                _notes(report)
            if report.errors or report.findings:
                echo(to_github(report))
        else:
            body = to_text(report, colour, summary=False)
            if body:
                echo(body + ("" if quiet else "\n"))
            if not quiet:
                _notes(report)
                echo(summary_text(report, colour))
    finally:
        if out:
            out.close()
    _internal(report, (ctx.obj or {}).get("debug"))
    if report.internal:
        return EXIT_INTERNAL
    if report.errors:
        return EXIT_ERROR
    threshold = SEVERITIES.index(fail_on)
    if any(SEVERITIES.index(r.severity) <= threshold for r in report.findings if r.rule.code != UNRESOLVED_INCLUDE):
        return EXIT_FINDINGS
    return EXIT_CLEAN


def _github_extras(report) -> None:
    """The step summary (when GitHub provides the file), and a note when annotations will be hidden."""
    from linter.output import GITHUB_ANNOTATIONS_PER_LEVEL, github_hidden, github_summary

    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(github_summary(report))
    hidden = github_hidden(report)
    if hidden:
        report.notes.append(f"GitHub shows at most {GITHUB_ANNOTATIONS_PER_LEVEL} annotations of each level per "
                            f"step: {hidden} of these will not be shown"
                            f"{' (the step summary lists them per rule)' if summary else ''}")


def _fixes(report) -> dict:
    from linter.fixes import plan

    def read(path):
        try:
            with open(path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
                return fh.read()
        except OSError:
            return None

    if report.errors:
        return {}       # a file that does not parse is not edited
    return plan(report.findings, set(report.outside), read)


def _write_baseline(report, path: str) -> int:
    from linter.baseline import write
    from linter.output import TextWriter

    if report.errors or report.internal:
        click.echo("\n\n".join(TextWriter(colour=False).error(e) for e in report.errors), err=True)
        click.echo("no baseline written: fix the configuration errors first", err=True)
        return EXIT_ERROR
    n = write(path, report.findings)
    click.echo(f"wrote {n} finding{'s' if n != 1 else ''} to the baseline {path}", err=True)
    return EXIT_CLEAN


def _apply_baseline(report, path: str) -> None:
    from linter.baseline import apply
    from linter.output import TextWriter
    from linter.syntax import ConfigError

    try:
        new, fixed = apply(path, report.findings, report.files)
    except ConfigError as e:
        click.echo(TextWriter(colour=False).error(e), err=True)
        sys.exit(EXIT_ERROR)
    hidden = len(report.findings) - len(new)
    report.findings = new
    if hidden:
        report.notes.append(f"{hidden} known finding{'s' if hidden != 1 else ''} hidden by the baseline {path}")
    if fixed:
        report.notes.append(f"{len(fixed)} finding{'s' if len(fixed) != 1 else ''} of the baseline "
                            f"{'are' if len(fixed) != 1 else 'is'} gone (fixed): update it with --write-baseline")


def _suppress_all(report, reason: str) -> int:
    from linter.output import TextWriter
    from linter.suppress import INVALID, UNUSED, write_all

    if not reason.strip() or "\n" in reason:
        raise click.BadParameter("a one-line reason is required", param_hint="--suppress-all")
    if report.errors or report.internal:
        click.echo("\n\n".join(TextWriter(colour=False).error(e) for e in report.errors), err=True)
        click.echo("nothing written: fix the configuration errors first", err=True)
        return EXIT_ERROR
    findings = [f for f in report.findings if f.rule.code not in (UNUSED, INVALID)]
    written = write_all(findings, reason.strip(), refuse=set(report.outside))
    total = sum(written.values())
    click.echo(f"added {total} suppression comment{'s' if total != 1 else ''} to {len(written)} "
               f"file{'s' if len(written) != 1 else ''}", err=True)
    return EXIT_CLEAN


def _internal(report, debug: bool) -> None:
    """One line per file the linter crashed on (stderr), then how to report it."""
    from linter.output import printable

    for e in report.internal:
        if debug:
            click.echo(e.traceback, err=True, nl=False)
        click.echo(f"internal error: {printable(e.path)}: while {e.stage}: {printable(e.summary)}", err=True)
    if report.internal:
        click.echo(REPORT_HINT, err=True)


def _notes(report):
    """Notes go to stderr: they are for the person at the terminal, never mixed into a report."""
    sys.stdout.flush()
    from linter.output import printable

    for note in report.notes:
        click.echo(f"note: {printable(note)}", err=True)
    sys.stderr.flush()


def _check_codes(codes, where: str = "--select/--ignore"):
    if not codes:
        return
    from linter.rule import load_rules

    rules = load_rules()
    for c in codes:
        if not any(r.code.startswith(c) or r.slug == c for r in rules):
            raise click.BadParameter(f"no rule matches {c!r}", param_hint=where)


def _project_settings(ctx, paths, config_file, isolated):
    """The project configuration (linter.settings), or exit 2 at the position of what is wrong."""
    from linter.settings import Settings, discover, load
    from linter.syntax import ConfigError

    if isolated:
        return Settings()
    path = config_file or discover(next((p for p in paths if p != "-"), "."))
    if path is None:
        return Settings()
    from linter.rule import load_rules

    try:
        return load(path, load_rules())
    except ConfigError as e:
        from linter.output import TextWriter

        click.echo(TextWriter(colour=False).error(e), err=True)
        sys.exit(EXIT_ERROR)


@main.command("rules")
@click.argument("selector", metavar="[CODE|PREFIX|SLUG]", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def rules_command(selector, fmt):
    """List the rules (all, or those whose code starts with PREFIX), or show one rule's documentation."""
    import json

    from linter.docs import rule_url
    from linter.rule import load_rules

    rules = load_rules()
    if selector:
        exact = [r for r in rules if selector in (r.code, r.slug)]
        rules = exact or [r for r in rules if r.code.startswith(selector.upper())]
        if not rules:
            raise click.BadParameter(f"no rule matches {selector!r}", param_hint="CODE|PREFIX|SLUG")
    if fmt == "json":
        click.echo(json.dumps([{"code": r.code, "name": r.slug, "severity": r.severity,
                                "servers": sorted(r.servers) if r.servers else None, "summary": r.summary,
                                "url": rule_url(r), "docs": r.docs} for r in rules], indent=2))
        return
    if selector and len(rules) == 1:
        r = rules[0]
        scope = ", ".join(sorted(r.servers)) if r.servers else "all servers"
        click.echo(f"# {r.code} {r.slug}\n\nSeverity: {r.severity} · Applies to: {scope} · {rule_url(r)}\n\n{r.docs}")
        return
    width = max(len(r.slug) for r in rules)
    for r in rules:
        click.echo(f"{r.code}  {r.slug:<{width}}  {r.severity:<7}  {r.summary}")


def _load_one(path, server, prefix, **versions):
    """Parse and model one configuration for trace/routes; exit 2 with positions on bad input."""
    from linter.detect import detect
    from linter.engine import Options, Report, load_config
    from linter.output import TextWriter

    if not os.path.isfile(path):
        raise click.BadParameter(f"{path}: no such file", param_hint="CONFIG")
    server = server or detect(path)
    if server is None:
        raise click.BadParameter(f"{path}: cannot tell which server this file is for; use --server",
                                 param_hint="CONFIG")
    report = Report()
    config = load_config(path, server, Options(server=server, prefix=prefix, **versions), report)
    if report.errors:
        writer = TextWriter(colour=False)
        click.echo("\n\n".join(writer.error(e) for e in report.errors), err=True)
        sys.exit(EXIT_ERROR)
    return config


_config_options = [
    click.option("--server", type=click.Choice(SERVERS), help="The server the file is for."),
    click.option("--prefix", type=click.Path(file_okay=False), help="The server's prefix/config dir."),
    click.option("--nginx-version", callback=_version, help="Target nginx version."),
    click.option("--haproxy-version", callback=_version, help="Target HAProxy version (default: 2.6)."),
    click.option("--caddy-directive", "caddy_directives", multiple=True, callback=_codes,
                 help="A directive your Caddy build adds (a plugin's)."),
    click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True),
]


def config_options(fn):
    for option in reversed(_config_options):
        fn = option(fn)
    return fn


def _header(ctx, param, value):
    out = []
    for v in value:
        name, sep, val = v.partition(":")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected 'Name: value', got {v!r}")
        out.append((name.strip(), val.strip()))
    return out


@main.command("trace")
@click.argument("config_path", metavar="CONFIG")
@click.argument("request_text", metavar="'METHOD URL'", required=False)
@click.option("--header", "-H", "headers", multiple=True, callback=_header, help="A request header, 'Name: value'.")
@click.option("--upstream-status", type=click.IntRange(100, 599), help="Only the outcome where the upstream answers this status.")
@click.option("--upstream-down", is_flag=True, help="Only the outcome where the upstream is down.")
@config_options
def trace_command(config_path, request_text, headers, upstream_status, upstream_down, server, prefix, fmt,
                  **versions):
    """Show which site and route answer a request, what the proxy does, and what the browser sees."""
    import json

    from linter.select import Request
    from linter.trace import trace

    parts = (request_text or "").split()
    if len(parts) != 2:
        raise click.BadParameter("expected 'METHOD URL', e.g. 'GET https://matrix.example.org/_matrix/client/versions'",
                                 param_hint="'METHOD URL'")
    try:
        request = Request.from_url(parts[0], parts[1], headers)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="'METHOD URL'")
    config = _load_one(config_path, server, prefix, **versions)
    doc = trace(config, request, upstream_status=upstream_status, upstream_down=upstream_down)
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2))
    else:
        from linter.textviews import trace_text

        click.echo(trace_text(doc, config.server, colour_wanted()))


@main.command("routes")
@click.argument("config_path", metavar="CONFIG")
@config_options
def routes_command(config_path, server, prefix, fmt, **versions):
    """Print the deployment's routing table: site, listen, TLS, path match -> action."""
    import json

    from linter.trace import routes

    config = _load_one(config_path, server, prefix, **versions)
    doc = routes(config)
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2))
    else:
        from linter.textviews import routes_text

        click.echo(routes_text(doc))


if __name__ == "__main__":
    main()
