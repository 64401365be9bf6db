"""Text renderings of `trace` and `routes` for people (JSON is in linter.trace)."""
from __future__ import annotations

from linter.output import TextWriter
from linter.syntax import Span

_WHEN = {"upstream-ok": "when the upstream answers normally", "upstream-error": "when the upstream answers with an error",
         "upstream-down": "when the upstream is down", "proxy": "answered by the proxy itself"}


def _where(item) -> str:
    return f"{item['path']}:{item['line']}" if item and item.get("path") else "-"


def trace_text(doc: dict, server: str, colour: bool) -> str:
    w = TextWriter(colour)
    req = doc["request"]
    out = [f"Request   {req['method']} {req['url']}"]
    site, route, action = doc["site"], doc["route"], doc["action"]
    if site is None:
        out.append("Site      none: no server block listens on that port")
    else:
        out.append(f"Site      {' '.join(site['names']) or '(no server_name)'}  ({_where(site)})")
    if route is not None:
        cond = f"  [{route['condition']}]" if route.get("condition") else ""
        out.append(f"Route     {route['match']}{cond}  ({_where(route)})")
        out.append(_frame(w, route, server))
    if doc.get("matrix"):
        out.append(f"Matrix    {doc['matrix']['text']}")
    kind = action["kind"]
    if kind == "proxy":
        out.append(f"Action    proxy to {action['upstream']}  ({_where(action)})")
        line = action.get("upstream_request_line") or "unknown (built at run time)"
        out.append(f"          the upstream receives: {line}")
    elif kind in ("respond", "redirect"):
        extra = f" -> {action['location']}" if kind == "redirect" else ""
        out.append(f"Action    {kind} {action['status']}{extra}  ({_where(action)})")
    elif kind == "static":
        out.append(f"Action    static files from {action['root']}  ({_where(action)})")
    else:
        out.append("Action    none (the server's default handling)")
    if kind != "none":
        out.append(_frame(w, action, server))
    for o in doc["outcomes"]:
        status = o["status"] if o["status"] is not None else "no HTTP response (the connection is closed)"
        out.append(f"\n{status} {_WHEN.get(o['when'], o['when'])}:")
        for h in o["headers"]:
            src = (f"{h['path']}:{h['line']}" if h["path"] else
                   "from the upstream" if h.get("from_upstream") else "the proxy's own")
            out.append(f"    {h['name']}: {h['value']}    ({src})")
        if not o["headers"]:
            out.append("    (no headers the model tracks)")
    seen = set()
    frames = []
    for o in doc["outcomes"]:
        for h in o["headers"]:
            key = (h["path"], h["line"])
            if h["path"] and key not in seen and key != (action.get("path"), action.get("line")):
                seen.add(key)
                frames.append(f"{h['name']} is added at {h['path']}:{h['line']}:\n" + _frame(w, h, server))
    if frames:
        out.append("\nWhere the headers come from:")
        out.extend(frames)
    if doc["unknowns"]:
        out.append("\nNot decided by the model:")
        out.extend(f"  - {u}" for u in doc["unknowns"])
    return "\n".join(x for x in out if x)


def _frame(w: TextWriter, item: dict, server: str) -> str:
    if not item.get("path"):
        return ""
    column = item.get("column")
    if column is None:   # headers carry only a line: point at the directive's first character
        lines = w._source(item["path"])
        text = lines[item["line"] - 1] if 0 < item["line"] <= len(lines) else ""
        column = len(text) - len(text.lstrip()) + 1
    frame = w.frame(Span.point(item["path"], item["line"], column), server)
    return frame.lstrip("\n")


def routes_text(doc: dict) -> str:
    out = []
    for site in doc["sites"]:
        listens = ", ".join(
            f"{l['address'] + ':' if l['address'] else ''}{l['port'] if l['port'] is not None else ''}"
            f"{' tls' if l['tls'] else ''}{' default' if l['default'] else ''}" for l in site["listens"]) or "(default)"
        out.append(f"{' '.join(site['names']) or '(no server_name)'}  listen {listens}  ({_where(site)})")
        for r in site["routes"]:
            cond = f" [{r['condition']}]" if r["condition"] else ""
            target = f" {r['target']}" if r["target"] else ""
            uri = f" (uri: {r['uri']})" if r.get("uri") and r["uri"] != "original" else ""
            out.append(f"  {r['match'] + cond:<48} -> {r['action']}{target}{uri}  ({_where(r)})")
        out.append("")
    return "\n".join(out).rstrip() or "No sites."
