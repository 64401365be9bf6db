"""Which server a file is for, and which files are no proxy configuration at all.

A hook run and a directory walk see every file of a repository: the detector must claim each
server's configs (also as snippets, also with names that say nothing) and must not claim the
other programs' files that sit next to them, whatever directory they are in.
"""
import struct
import zlib
from pathlib import Path

import pytest

from linter.detect import detect, read_text

# -- other programs' files, as they are shipped or commonly written ---------------------------

REDIS = """\
# Redis configuration file example.
#
# Note that in order to read the configuration file, Redis must be
# started with the file path as first argument:
#
# ./redis-server /path/to/redis.conf

# include /path/to/local.conf

bind 127.0.0.1 -::1
protected-mode yes
port 6379
tcp-backlog 511
timeout 0
tcp-keepalive 300

tls-port 6380
tls-cert-file /etc/redis/tls/redis.crt
tls-key-file /etc/redis/tls/redis.key

daemonize no
supervised auto
pidfile /var/run/redis_6379.pid
loglevel notice
logfile ""
databases 16
save 3600 1 300 100 60 10000
dbfilename dump.rdb
dir /var/lib/redis
maxmemory-policy allkeys-lru
appendonly no
"""

# Without its TLS lines (which once looked like Caddy's `tls`): `bind` alone looked like HAProxy.
REDIS_PLAIN = "\n".join(line for line in REDIS.splitlines() if not line.startswith("tls-")) + "\n"

SETUP_CFG = """\
[metadata]
name = matrix-bot
version = attr: matrix_bot.__version__
description = A small Matrix bot
license = MIT

[options]
packages = find:
python_requires = >=3.8
install_requires =
    matrix-nio>=0.20
    aiohttp

[flake8]
max-line-length = 100
exclude = .git,__pycache__,build,dist
"""

SUPERVISORD = """\
; supervisor config file

[unix_http_server]
file=/var/run/supervisor.sock   ; (the path to the socket file)
chmod=0700                       ; sockef file mode (default 0700)

[supervisord]
logfile=/var/log/supervisor/supervisord.log ; (main log file;default $CWD/supervisord.log)
pidfile=/var/run/supervisord.pid ; (supervisord pidfile;default supervisord.pid)

[program:nginx]
command=/usr/sbin/nginx -g "daemon off;"
autostart=true
autorestart=true
stdout_logfile=/dev/stdout

[program:synapse]
command=python -m synapse.app.homeserver --config-path /data/homeserver.yaml

[include]
files = /etc/supervisor/conf.d/*.conf
"""

POSTGRESQL = """\
# -----------------------------
# PostgreSQL configuration file
# -----------------------------
data_directory = '/var/lib/postgresql/15/main'		# use data in another directory
hba_file = '/etc/postgresql/15/main/pg_hba.conf'	# host-based authentication file
listen_addresses = 'localhost'		# what IP address(es) to listen on;
port = 5432				# (change requires restart)
max_connections = 100			# (change requires restart)
ssl = on
ssl_cert_file = '/etc/ssl/certs/ssl-cert-snakeoil.pem'
shared_buffers = 128MB			# min 128kB
log_line_prefix = '%m [%p] %q%u@%d '		# special values:
timezone = 'Etc/UTC'
include_dir = 'conf.d'			# include files ending in '.conf' from
"""

SYSTEMD_OVERRIDE = """\
[Service]
ExecStart=
ExecStart=/usr/sbin/nginx -g 'daemon on; master_process on;'
LimitNOFILE=65535
Restart=on-failure
RestartSec=5s
"""

TOX_INI = """\
[tox]
envlist = py39, py311, lint
isolated_build = true

[testenv]
deps =
    pytest
commands = pytest {posargs}

[testenv:lint]
skip_install = true
deps = ruff
commands = ruff check src tests
"""

COTURN = """\
listening-port=3478
tls-listening-port=5349
use-auth-secret
static-auth-secret=change-me
realm=turn.example.org
no-tcp-relay
denied-peer-ip=10.0.0.0-10.255.255.255
user-quota=12
total-quota=1200
"""

LOGROTATE = """\
/var/log/nginx/*.log {
\tdaily
\tmissingok
\trotate 14
\tcompress
\tdelaycompress
\tnotifempty
\tcreate 0640 www-data adm
\tsharedscripts
\tpostrotate
\t\tinvoke-rc.d nginx rotate >/dev/null 2>&1
\tendscript
}
"""

DOCKERFILE = """\
FROM nginx:1.27-alpine
COPY nginx.conf /etc/nginx/nginx.conf
COPY sites-enabled/ /etc/nginx/sites-enabled/
EXPOSE 443
"""


def png() -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + bytes([13, 37, 73]) * 4 for _ in range(4))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


NOT_PROXY = [
    ("redis.conf", REDIS),
    ("etc/redis/redis.conf", REDIS_PLAIN),
    ("deploy/haproxy/redis-cache.conf", REDIS_PLAIN),     # a directory named like a server
    ("setup.cfg", SETUP_CFG),
    ("supervisord.conf", SUPERVISORD),
    ("docker/nginx/supervisord.conf", SUPERVISORD),
    ("docker/nginx/supervisor-apps.conf", SUPERVISORD),   # the content says it, not the name
    ("postgresql.conf", POSTGRESQL),
    ("roles/postgres/templates/main.conf", POSTGRESQL),
    ("etc/systemd/system/nginx.service.d/override.conf", SYSTEMD_OVERRIDE),
    ("roles/nginx/files/override.conf", SYSTEMD_OVERRIDE),
    ("tox.ini", TOX_INI),
    ("config/haproxy/tox.cfg", TOX_INI),
    ("turnserver.conf", COTURN),
    ("coturn/coturn.conf", COTURN),
    ("roles/nginx/files/logrotate", LOGROTATE),
    ("docker/nginx/Dockerfile", DOCKERFILE),
]


@pytest.mark.parametrize("name, text", NOT_PROXY, ids=[name for name, _ in NOT_PROXY])
def test_other_programs_files_are_not_claimed(tmp_path, name, text):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    assert detect(str(path)) is None
    assert detect(name, text) is None


@pytest.mark.parametrize("name", ["logo.png", "nginx/logo.conf", "sites-enabled/favicon"])
def test_images_are_binary_whatever_their_name(tmp_path, name):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png())
    assert read_text(str(path)) is None
    assert detect(str(path)) is None


def test_binary_without_nul_bytes_is_binary(tmp_path):
    import random

    rng = random.Random(7)
    path = tmp_path / "nginx" / "blob.conf"
    path.parent.mkdir()
    path.write_bytes(bytes(rng.choice(range(1, 256)) for _ in range(4096)))
    assert read_text(str(path)) is None and detect(str(path)) is None


def test_a_legacy_encoded_comment_is_still_text(tmp_path):
    path = tmp_path / "site.conf"
    path.write_bytes("server {\n    # 한국어 주석\n    listen 80;\n}\n".encode("euc-kr"))
    assert read_text(str(path)) is not None
    assert detect(str(path)) == "nginx"


# -- each server's configs, whole and as snippets ---------------------------------------------

NGINX_SITE = """\
server {
    listen 443 ssl http2;
    server_name matrix.example.org;
    location ~ ^(/_matrix|/_synapse/client) {
        proxy_pass http://127.0.0.1:8008;
        proxy_set_header X-Forwarded-For $remote_addr;
        client_max_body_size 50M;
    }
}
"""

NGINX_SNIPPET = """\
proxy_set_header Host $host;
proxy_set_header X-Forwarded-Proto $scheme;
proxy_http_version 1.1;
"""

APACHE_VHOST = """\
<VirtualHost *:443>
    SSLEngine on
    ServerName matrix.example.org
    RequestHeader set "X-Forwarded-Proto" expr=%{REQUEST_SCHEME}
    AllowEncodedSlashes NoDecode
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    ProxyPassReverse /_matrix http://127.0.0.1:8008/_matrix
</VirtualHost>
"""

APACHE_SNIPPET = """\
ProxyPreserveHost On
ProxyPass /_synapse/client http://127.0.0.1:8008/_synapse/client nocanon
"""

CADDYFILE = """\
matrix.example.org {
\treverse_proxy /_matrix/* localhost:8008
\treverse_proxy /_synapse/client/* localhost:8008
}

example.org {
\theader /.well-known/matrix/* Content-Type application/json
\trespond /.well-known/matrix/server `{"m.server": "matrix.example.org:443"}`
}
"""

CADDY_SNIPPET = """\
(matrix) {
\treverse_proxy /_matrix/* localhost:8008
}
"""

HAPROXY = """\
global
    log /dev/log local0

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 180s

frontend https
    bind :::443 v4v6 ssl crt /etc/ssl/haproxy/
    http-request set-header X-Forwarded-Proto https
    acl matrix-path path_beg /_matrix
    use_backend matrix if matrix-path

backend matrix
    server matrix 127.0.0.1:8008
"""

PROXY = [
    ("nginx", "sites-enabled/matrix.example.org", NGINX_SITE),
    ("nginx", "conf.d/matrix.conf", NGINX_SITE),
    ("nginx", "nginx/snippets/proxy.conf", NGINX_SNIPPET),
    ("nginx", "nginx.conf", "events {}\nhttp {\n    include conf.d/*.conf;\n}\n"),
    ("nginx", "bad.conf", "server {\n    listen 80\n}\n"),        # broken, but a block: never HAProxy
    ("apache", "sites-available/matrix.conf", APACHE_VHOST),
    ("apache", "apache2/conf-available/matrix-proxy.conf", APACHE_SNIPPET),
    ("apache", "public/.htaccess", "RewriteEngine On\n"),
    ("caddy", "Caddyfile", CADDYFILE),
    ("caddy", "deploy/matrix", CADDYFILE),
    ("caddy", "caddy/snippets/matrix.caddy", CADDY_SNIPPET),
    ("haproxy", "haproxy.cfg", HAPROXY),
    ("haproxy", "lb/matrix.cfg", HAPROXY),
    ("haproxy", "conf.d/50-matrix.conf", HAPROXY),
]


@pytest.mark.parametrize("server, name, text", PROXY, ids=[f"{s}:{n}" for s, n, _ in PROXY])
def test_proxy_configs_are_claimed_by_their_server(tmp_path, server, name, text):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    assert detect(str(path)) == server
    assert detect(name, text) == server


def test_the_repositorys_own_examples_are_claimed_by_their_server():
    examples = Path(__file__).resolve().parent.parent / "examples"
    for path in sorted(p for p in examples.rglob("*") if p.is_file()):
        assert detect(str(path)) == path.parent.name, path


def test_a_config_commented_in_gbk_is_still_text(tmp_path):
    path = tmp_path / "matrix.conf"
    header = "# 这是矩阵服务器的反向代理配置文件，请勿随意修改。所有的请求都会被转发到本地的八零零八端口。\n" * 20
    path.write_bytes((header + "server {\n    listen 443 ssl;\n}\n").encode("gbk"))
    assert read_text(str(path)) is not None
    assert detect(str(path)) == "nginx"
