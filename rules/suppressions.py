"""The linter's own suppression comments: the engine checks them after every rule has run
(linter/suppress.py), so these rules find nothing on the model themselves."""
from __future__ import annotations

from linter.rule import rule


@rule("MPL002", "unused-suppression", "warning")
def unused_suppression(config):
    """## What it does
    Flags a `# matrix-proxy-lint: ignore[CODE] reason` comment (or `ignore-file[CODE]`) that
    silenced no finding of that code where it applies, among the rules that ran.

    ## Why is this bad?
    The problem it was written for has been fixed, or the comment has drifted away from its line.
    A stale suppression hides the next real finding of that code on that line, and tells the next
    reader something that is no longer true.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        location /_matrix {
            # matrix-proxy-lint: ignore[MPL201] the upstream strips the prefix
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
    """
    return ()


@rule("MPL003", "invalid-suppression", "error")
def invalid_suppression(config):
    """## What it does
    Flags a suppression comment that silences nothing because it is malformed: no codes in
    brackets, no reason after them, or a code no rule has.

    ## Why is this bad?
    A suppression is a reviewed decision; the reason is what the next reader needs to judge it
    (a blanket or unexplained ignore is how real problems hide). A misspelt code silences
    nothing, though the comment says it does.

    ## Example
    ```nginx
    server {
        listen 443 ssl;
        location /_matrix {
            proxy_pass http://127.0.0.1:8008/;  # matrix-proxy-lint: ignore[MPL21]
        }
    }
    ```

    ## Use instead
    ```nginx
    server {
        listen 443 ssl;
        location /_matrix {
            proxy_pass http://127.0.0.1:8008/;  # matrix-proxy-lint: ignore[MPL201] the upstream is a bridge, not Synapse
        }
    }
    ```
    """
    return ()
