"""matrix-proxy-lint: static analysis of the reverse proxies in front of Matrix homeservers.

Public API (kept small, crossplane style):

    from linter import lint
    report = lint(["/etc/nginx"])        # -> linter.engine.Report

Heavy modules (lark, pygments, the front ends) are imported only when needed.
"""
__version__ = "0.3.0"


def lint(paths, **options):
    from linter.engine import lint as _lint

    return _lint(paths, **options)
