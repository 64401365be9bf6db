"""Built-in rules: one module per rule family. See linter/rule.py for the API."""
