"""A plain, local API reference page built from the OpenAPI document (no scripts, no CDN).

A station is often offline, and a page that loads code from elsewhere is one more thing to
trust; the OpenAPI document itself stays at /openapi.json for tools.
"""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = (
    "body{font:15px/1.4 system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem}"
    "h2{margin-top:2rem;border-bottom:1px solid #ccc}code{background:#f3f3f3;padding:0 .2rem}"
    ".op{margin:.8rem 0}.m{display:inline-block;min-width:4.5rem;font-weight:bold}"
    "td{padding:0 .6rem 0 0;vertical-align:top}"
)


def api_reference_html(spec: dict[str, Any]) -> str:
    """Every operation by tag: method, path, summary, description and parameters."""
    by_tag: dict[str, list[str]] = {}
    for path, ops in sorted(spec.get("paths", {}).items()):
        for method, op in ops.items():
            if not isinstance(op, dict):
                continue
            params = "".join(
                f"<tr><td><code>{escape(p.get('name', ''))}</code></td>"
                f"<td>{escape(p.get('in', ''))}</td>"
                f"<td>{'required' if p.get('required') else ''}</td>"
                f"<td>{escape(p.get('description', ''))}</td></tr>"
                for p in op.get("parameters", [])
            )
            body = " (JSON body)" if "requestBody" in op else ""
            block = (
                f'<div class="op"><span class="m">{escape(method.upper())}</span>'
                f"<code>{escape(path)}</code>{body}<br>"
                f"<strong>{escape(op.get('summary', ''))}</strong> "
                f"{escape(op.get('description', '')).replace(chr(10), ' ')}"
                + (f"<table>{params}</table>" if params else "")
                + "</div>"
            )
            for tag in op.get("tags", ["other"]):
                by_tag.setdefault(tag, []).append(block)
    info = spec.get("info", {})
    sections = "".join(
        f"<h2>{escape(tag)}</h2>{''.join(blocks)}" for tag, blocks in sorted(by_tag.items())
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(info.get('title', 'API'))}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(info.get('title', 'API'))} {escape(str(info.get('version', '')))}</h1>"
        f"<p>{escape(info.get('description', ''))} The machine-readable document is at "
        '<a href="/openapi.json">/openapi.json</a>.</p>'
        f"{sections}</body></html>"
    )
