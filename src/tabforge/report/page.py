"""One self-contained HTML document: inline CSS, inline charts script, the data as JSON.

The page makes no request at all (a Content-Security-Policy of ``default-src 'none'``
says so to the browser too), so it opens offline, from a mail attachment or from the
server alike. The data travels once, as a ``<script type="application/json">`` blob the
figures are drawn from and a reader can extract; ``<``, ``>`` and ``&`` inside it are
written as ``\\u003c`` and friends, so a column named ``</script>`` cannot end the blob.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import msgspec

from tabforge import __version__
from tabforge.report.html import Html, esc, tag

POLICY = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


@cache
def asset(name: str) -> str:
    """A file of ``report/static``, checked to be safe inside its inline tag."""
    text = (files("tabforge.report") / "static" / name).read_text(encoding="utf-8")
    if "</" in text:  # an inline <script>/<style> ends at the first "</"
        raise ValueError(f"report/static/{name} must not contain '</'")
    return text


def to_json(doc: Any) -> bytes:
    """The page's data as JSON (msgspec: structs and dicts alike, NaN and inf as null)."""
    return msgspec.json.encode(doc)


def script_json(doc: Any) -> str:
    """JSON that can sit inside a script element whatever strings it holds."""
    text = to_json(doc).decode("utf-8")
    for raw, safe in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, safe)
    return text


def document(*, title: str, header: Html, body: Html, doc: dict[str, Any]) -> str:
    """The whole page; ``doc["figures"]`` holds the chart specs the script draws."""
    footer = tag(
        "footer",
        f"Made by tabforge {__version__}. Every figure was computed through the stored "
        "ONNX model; no raw rows are on this page.",
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
        f"<title>{esc(title)}</title><style>{asset('report.css')}</style></head>\n"
        f"<body>{header}<main>{body}</main>{footer}\n"
        f'<script type="application/json" id="tf-data">{script_json(doc)}</script>\n'
        f"<script>{asset('charts.js')}</script>\n<script>{asset('report.js')}</script>\n"
        "</body></html>\n"
    )
