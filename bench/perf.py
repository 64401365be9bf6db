"""Speed and memory of every front end on generated Matrix deployments, against the nginx peers.

    python bench/perf.py --setup                  # once: a venv per peer under --venvs
    python bench/perf.py [--scales 1,10,100] [--repeat 5] [--huge] [--servers nginx,caddy,...]

A deployment unit is five Matrix sites (client and federation APIs, /_synapse/client, both
well-known documents, CORS and forwarding headers, a body limit); scale N is N units in one file
(HAProxy: one frontend routing 5N hosts to as many backends, the shape that grows quadratically
when a builder evaluates every rule per host). `--huge` adds a 50 MB nginx file, linted with the
size limits raised.

Each command runs in its own process, measured with /usr/bin/time (wall seconds, peak RSS); the
runs are interleaved (every tool on every input, then again) so that load on the machine hits all
tools alike, and the median of --repeat runs is reported. Peers, nginx only, each in its own
venv: gixy-ng and Gixy-Next (`gixy FILE`), and crossplane's bare parse (`crossplane.parse`), which
is the floor for any nginx tool built on it. Printed: seconds, lines/s, peak RSS, our time over
each peer's, and the scaling exponent k of time ~ lines^k between the two largest scales (1 is
linear; 2 is quadratic).
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PEERS = {"gixy-ng": "gixy-ng", "gixy-next": "gixy-next", "crossplane": "crossplane"}
DEFAULT_VENVS = Path(tempfile.gettempdir()) / "mpl-bench-venvs"
SITES_PER_UNIT = 5


# -- generated deployments -------------------------------------------------------------------

def nginx(units: int) -> str:
    out = ["http {", "    client_max_body_size 50M;"]
    for i in range(units * SITES_PER_UNIT):
        out.append(f"""    server {{
        listen 443 ssl;
        listen 8448 ssl;
        server_name matrix{i}.example.org;
        ssl_certificate /etc/ssl/m{i}.pem;
        ssl_certificate_key /etc/ssl/m{i}.key;
        location ~ ^(/_matrix|/_synapse/client) {{
            proxy_pass http://127.0.0.1:{8008 + i % 50};
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Host $host;
            proxy_http_version 1.1;
        }}
        location = /.well-known/matrix/server {{
            default_type application/json;
            return 200 '{{"m.server": "matrix{i}.example.org:443"}}';
        }}
        location = /.well-known/matrix/client {{
            default_type application/json;
            add_header Access-Control-Allow-Origin * always;
            return 200 '{{"m.homeserver": {{"base_url": "https://matrix{i}.example.org"}}}}';
        }}
    }}""")
    out.append("}")
    return "\n".join(out) + "\n"


def apache(units: int) -> str:
    out = []
    for i in range(units * SITES_PER_UNIT):
        out.append(f"""<VirtualHost *:443>
    ServerName matrix{i}.example.org
    SSLEngine on
    SSLCertificateFile /etc/ssl/m{i}.pem
    AllowEncodedSlashes NoDecode
    RequestHeader set X-Forwarded-Proto "https"
    ProxyPreserveHost On
    ProxyPass /_matrix http://127.0.0.1:{8008 + i % 50}/_matrix nocanon
    ProxyPassReverse /_matrix http://127.0.0.1:{8008 + i % 50}/_matrix
    ProxyPass /_synapse/client http://127.0.0.1:{8008 + i % 50}/_synapse/client nocanon
    ProxyPassReverse /_synapse/client http://127.0.0.1:{8008 + i % 50}/_synapse/client
    <Location /.well-known/matrix/client>
        Header always set Access-Control-Allow-Origin "*"
        Header always set Content-Type "application/json"
    </Location>
</VirtualHost>
""")
    return "\n".join(out)


def caddy(units: int) -> str:
    out = []
    for i in range(units * SITES_PER_UNIT):
        out.append(f"""matrix{i}.example.org, matrix{i}.example.org:8448 {{
	reverse_proxy /_matrix/* 127.0.0.1:{8008 + i % 50}
	reverse_proxy /_synapse/client/* 127.0.0.1:{8008 + i % 50}
	header /.well-known/matrix/* Access-Control-Allow-Origin *
	respond /.well-known/matrix/server `{{"m.server": "matrix{i}.example.org:443"}}`
	respond /.well-known/matrix/client `{{"m.homeserver": {{"base_url": "https://matrix{i}.example.org"}}}}`
}}
""")
    return "\n".join(out)


def haproxy(units: int) -> str:
    hosts = units * SITES_PER_UNIT
    out = ["global", "    log stdout format raw local0", "", "defaults", "    mode http", "    timeout connect 5s",
           "    timeout client 60s", "    timeout server 180s", "", "frontend https",
           "    bind :443 ssl crt /etc/haproxy/certs/", "    http-request set-header X-Forwarded-Proto https",
           "    http-request set-header X-Forwarded-For %[src]", "    acl matrix path_beg /_matrix /_synapse/client"]
    for i in range(hosts):
        out.append(f"    use_backend synapse{i} if {{ hdr(host) -i matrix{i}.example.org }} matrix")
    out += ["    default_backend web", ""]
    for i in range(hosts):
        out += [f"backend synapse{i}", f"    server s{i} 127.0.0.1:{8008 + i % 50}", ""]
    out += ["backend web", "    server web 127.0.0.1:8080", ""]
    return "\n".join(out)


GENERATORS = {"nginx": (nginx, "matrix.conf"), "apache": (apache, "matrix.conf"),
              "caddy": (caddy, "Caddyfile"), "haproxy": (haproxy, "haproxy.cfg")}


# -- running ------------------------------------------------------------------------------------

def timed(command: list) -> tuple:
    """(wall seconds, peak RSS in MB) of one run; the command's own exit status is not judged
    (a linter with findings exits 1)."""
    with tempfile.NamedTemporaryFile("r") as report:
        subprocess.run(["/usr/bin/time", "-o", report.name, "-f", "%e %M", *command],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        wall, rss = report.read().split()[-2:]
    return float(wall), int(rss) / 1024


def commands(server: str, path: str, ours: list, venvs: Path, huge: bool) -> dict:
    raised = ["--max-file-size", "64M", "--max-total-size", "64M"] if huge else []
    out = {"ours": [*ours, "check", "--isolated", "--server", server, "--format", "json", *raised, path]}
    if server == "nginx":
        for name in PEERS:
            python = venvs / name / "bin" / "python"
            if not python.exists():
                continue
            if name == "crossplane":
                out[name] = [str(python), "-c", "import crossplane, sys; crossplane.parse(sys.argv[1])", path]
            else:
                out[name] = [str(venvs / name / "bin" / "gixy"), path]
    return out


def setup(venvs: Path) -> None:
    for name, requirement in PEERS.items():
        target = venvs / name
        if (target / "bin" / "python").exists():
            continue
        subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
        subprocess.run([str(target / "bin" / "pip"), "install", "-q", requirement], check=True)
        print(f"installed {requirement} in {target}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setup", action="store_true", help="create the peers' venvs, then exit")
    ap.add_argument("--venvs", type=Path, default=DEFAULT_VENVS)
    ap.add_argument("--servers", default="nginx,apache,caddy,haproxy")
    ap.add_argument("--scales", default="1,10,100")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--huge", action="store_true", help="also a 50 MB nginx file (ours only, limits raised)")
    ap.add_argument("--ours", default=shutil.which("matrix-proxy-lint") or "matrix-proxy-lint",
                    help="our command (default: the installed matrix-proxy-lint)")
    args = ap.parse_args(argv)
    if args.setup:
        setup(args.venvs)
        return 0
    work = Path(tempfile.mkdtemp(prefix="mpl-perf-"))
    inputs = []         # (server, scale label, path, lines, huge)
    for server in args.servers.split(","):
        make, name = GENERATORS[server]
        for scale in (int(s) for s in args.scales.split(",")):
            d = work / f"{server}-{scale}"
            d.mkdir()
            text = make(scale)
            (d / name).write_text(text)
            inputs.append((server, f"{scale}x", str(d / name), text.count("\n"), False))
    if args.huge:
        d = work / "nginx-50MB"
        d.mkdir()
        unit = nginx(1)
        body = unit[unit.index("    server {"):unit.rindex("}")]
        copies = 50 * 1024 * 1024 // len(body) + 1
        (d / "matrix.conf").write_text("http {\n" + body * copies + "}\n")
        inputs.append(("nginx", "50MB", str(d / "matrix.conf"), (body.count("\n")) * copies + 2, True))
    runs: dict = {}
    for _ in range(args.repeat):
        for server, label, path, lines, huge in inputs:
            for tool, command in commands(server, path, [args.ours], args.venvs, huge).items():
                if huge and tool != "ours" and args.repeat > 1 and runs.get((server, label, tool)):
                    continue        # one peer run of the 50 MB file is enough
                runs.setdefault((server, label, tool), []).append(timed(command))
    print(f"{'server':8} {'scale':>6} {'lines':>9} {'tool':11} {'seconds':>8} {'lines/s':>9} {'peak MB':>8} {'ours/tool':>9}")
    medians: dict = {}
    for server, label, path, lines, _ in inputs:
        ours = None
        for (s, l, tool), values in runs.items():
            if (s, l) != (server, label):
                continue
            wall = statistics.median(v[0] for v in values)
            rss = statistics.median(v[1] for v in values)
            medians[(server, label, tool)] = (wall, lines)
            if tool == "ours":
                ours = wall
            ratio = f"{ours / wall:9.2f}" if ours is not None and tool != "ours" and wall > 0 else " " * 9
            print(f"{server:8} {label:>6} {lines:9d} {tool:11} {wall:8.2f} {lines / max(wall, 1e-3):9.0f} "
                  f"{rss:8.0f} {ratio}")
    for server in args.servers.split(","):
        points = sorted((lines, wall) for (s, l, tool), (wall, lines) in medians.items()
                        if s == server and tool == "ours" and l.endswith("x"))
        if len(points) >= 2 and points[-2][1] > 0 and points[-1][0] > points[-2][0]:
            (n1, t1), (n2, t2) = points[-2], points[-1]
            print(f"{server}: time ~ lines^{math.log(t2 / t1) / math.log(n2 / n1):.2f} "
                  f"between {n1} and {n2} lines")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
