"""What the linter could not see: includes, imports and macros it could not read."""
from __future__ import annotations

from linter.rule import Finding, rule


@rule("MPL001", "unresolved-include", "info")
def unresolved_include(config):
    """## What it does
    Notes an include (nginx `include`, Apache `Include`/`Use`, Caddy `import`) whose file the
    linter could not read: it is not in the checked tree, not on this machine, not in an
    `--include-path` directory, and not one of the standard files whose content ships with the
    linter (`linter/known/`).

    ## Why is this bad?
    It is not a defect of the configuration: the file usually lives only on the server. But what it
    contains is unknown, so every finding that would say something is missing (a forwarding
    header, CORS on errors, an access restriction) is reported as depending on it, at severity
    info, instead of as a fact. This note never changes the exit code; `--strict-includes` makes
    an unresolved include an error (exit 2), as `nginx -t` would.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        location /_matrix {
            include /config/nginx/site-proxy.conf;
            proxy_pass http://127.0.0.1:8008;
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        location /_matrix {
            proxy_pass http://127.0.0.1:8008;
        }
    }
    ```
    Or point the linter at a copy of the file with `--include-path DIR`, or lint the tree it
    belongs to with `--prefix`.
    """
    for u in config.tree.unresolved:
        yield Finding(f"{u.kind} `{u.target}` was not read ({u.reason}): findings that depend on what it "
                      f"contains are reported as uncertain", u.span)
