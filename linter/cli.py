"""The `matrix-proxy-lint` command.

Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage, I/O or configuration errors.
"""
from __future__ import annotations

import os
import re
import sys

import click

from linter import __version__
from linter.detect import SERVERS
from linter.rule import SEVERITIES

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _version(ctx, param, value):
    if not value:
        return None
    m = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?", value)
    if not m:
        raise click.BadParameter("expected a version like 1.26.0")
    return tuple(int(x or 0) for x in m.groups())


def _codes(ctx, param, value):
    return tuple(c.strip() for v in value for c in v.split(",") if c.strip())


def colour_wanted() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="matrix-proxy-lint", message="%(prog)s %(version)s")
def main():
    """Find the reverse-proxy mistakes that break Matrix homeservers (nginx, Apache, Caddy, HAProxy)."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--server", type=click.Choice(SERVERS), help="Treat every file as this server's config.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--prefix", type=click.Path(file_okay=False),
              help="The server's prefix/config dir, to resolve relative includes of a copied tree.")
@click.option("--nginx-version", callback=_version, help="Target nginx version, e.g. 1.26.0.")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="warning", show_default=True,
              help="Lowest severity that makes the exit code 1.")
@click.option("--select", multiple=True, callback=_codes, help="Only these rules (codes, prefixes or slugs).")
@click.option("--ignore", multiple=True, callback=_codes, help="Skip these rules (codes, prefixes or slugs).")
def check(paths, server, fmt, prefix, nginx_version, fail_on, select, ignore):
    """Lint configuration files or directories."""
    from linter.engine import lint
    from linter.output import to_json, to_text

    _check_codes(select + ignore)
    report = lint(paths, server=server, prefix=prefix, nginx_version=nginx_version, select=select, ignore=ignore)
    if fmt == "json":
        click.echo(to_json(report))
    else:
        click.echo(to_text(report, colour_wanted()))
    if report.errors:
        sys.exit(EXIT_ERROR)
    threshold = SEVERITIES.index(fail_on)
    if any(SEVERITIES.index(r.severity) <= threshold for r in report.findings):
        sys.exit(EXIT_FINDINGS)
    sys.exit(EXIT_CLEAN)


def _check_codes(codes):
    if not codes:
        return
    from linter.rule import load_rules

    rules = load_rules()
    for c in codes:
        if not any(r.code.startswith(c) or r.slug == c for r in rules):
            raise click.BadParameter(f"no rule matches {c!r}", param_hint="--select/--ignore")


@main.command("rules")
@click.argument("code", required=False)
def rules_command(code):
    """List every rule, or show one rule's documentation."""
    from linter.rule import load_rules

    rules = load_rules()
    if code:
        match = [r for r in rules if code in (r.code, r.slug)]
        if not match:
            raise click.BadParameter(f"no rule {code!r}", param_hint="CODE")
        r = match[0]
        scope = ", ".join(sorted(r.servers)) if r.servers else "all servers"
        click.echo(f"# {r.code} {r.slug}\n\nSeverity: {r.severity} · Applies to: {scope}\n\n{r.docs}")
        return
    width = max(len(r.slug) for r in rules)
    for r in rules:
        click.echo(f"{r.code}  {r.slug:<{width}}  {r.severity:<7}  {r.summary}")


if __name__ == "__main__":
    main()
