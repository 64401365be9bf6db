"""Lark grammars for the Caddyfile, Apache httpd and HAProxy front ends."""
