"""The dashboard's page and files, and version reports as HTML.

``GET /`` is a shell with no data in it (so it is public, as /openapi.json is); its script
fetches /dashboard.json with the API key the user gives. Files come from the package
(``serve/static/``, and the chart script from ``report/static/``, the one the report inlines)
and only the names in ``STATIC`` are served: a path never reaches the file system.

A version's report is rendered by ``tabforge.report`` from its manifest and stored
evaluation, in a thread, and kept: a stored version never changes (the aliases pointing at
it may, so they are part of the key).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from collections import OrderedDict
from importlib import resources
from typing import NewType

from tabforge.contract import Manifest
from tabforge.contract.evaluation import EVALUATION_FILE
from tabforge.errors import NotFoundError
from tabforge.registry.base import Registry
from tabforge.serve.http import Header, Response

log = logging.getLogger("tabforge.serve")

# Response types of the route table: what the OpenAPI document says these routes send.
Html = NewType("Html", str)
Asset = NewType("Asset", str)  # a script or a style sheet
MEDIA = {Html: ("text/html",), Asset: ("text/javascript", "text/css")}

HTML = b"text/html; charset=utf-8"
SCRIPT = b"text/javascript; charset=utf-8"
STYLE = b"text/css; charset=utf-8"
PAGE = ("serve", "static", "dashboard.html")
# The files /static/{file} serves (name -> where in the package, content type): no other.
STATIC: dict[str, tuple[tuple[str, ...], bytes]] = {
    "dashboard.js": (("serve", "static", "dashboard.js"), SCRIPT),
    "dashparts.js": (("serve", "static", "dashparts.js"), SCRIPT),
    "dashdrift.js": (("serve", "static", "dashdrift.js"), SCRIPT),
    "dashboard.css": (("serve", "static", "dashboard.css"), STYLE),
    "charts.js": (("report", "static", "charts.js"), SCRIPT),
}
# Sent with every page and file: never sniffed, never framed, no referrer leaves.
SAFE: tuple[Header, ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
REPORTS_KEPT = 32


@functools.cache
def _file(parts: tuple[str, ...], *, keys: bool = False) -> tuple[bytes, bytes]:
    """A packaged file's bytes and its entity tag (read once per process). ``keys``: the
    page is told that API keys are set, so it asks for one before its first request."""
    body = resources.files("tabforge").joinpath(*parts).read_bytes()
    if keys:
        body = body.replace(b'<body data-keys="no">', b'<body data-keys="yes">', 1)
    return body, b'"' + hashlib.sha256(body).hexdigest()[:16].encode() + b'"'


def _answer(
    parts: tuple[str, ...], kind: bytes, if_none_match: str, keys: bool = False
) -> Response:
    body, etag = _file(parts, keys=keys)
    # Revalidated on each load (a server upgrade shows at once), 304 when unchanged.
    headers = ((b"content-type", kind), (b"etag", etag), (b"cache-control", b"no-cache"), *SAFE)
    if etag.decode() in (tag.strip() for tag in if_none_match.split(",")):
        return Response(304, b"", headers)
    return Response(200, body, headers)


def page(*, keys: bool, if_none_match: str = "") -> Response:
    """The dashboard's HTML shell (``keys``: the server wants an API key)."""
    return _answer(PAGE, HTML, if_none_match, keys)


def static(name: str, if_none_match: str = "") -> Response:
    """One of the page's files, by its name in ``STATIC``; anything else is 404."""
    found = STATIC.get(name)
    if found is None:
        raise NotFoundError(f"no such file: /static/{name}")
    return _answer(*found, if_none_match)


def html(body: bytes) -> Response:
    return Response(200, body, ((b"content-type", HTML), *SAFE))


class Reports:
    """Rendered version reports, the last ``REPORTS_KEPT`` kept."""

    def __init__(self, store: Registry) -> None:
        self.store = store
        self._kept: OrderedDict[tuple[str, int, tuple[str, ...]], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def render(self, manifest: Manifest, aliases: list[str]) -> bytes:
        """The version's report (in a thread: it reads the registry and renders)."""
        key = (manifest.name, manifest.version, tuple(aliases))
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
                return found
        # Imported here: the report's code loads on the first report, not with every worker.
        from tabforge.report.load import stored_evaluation
        from tabforge.report.version import render_version

        ref = f"{manifest.name}:{manifest.version}"
        evaluation, unreadable = stored_evaluation(self.store, ref)
        if unreadable:  # the detail names server paths: it goes to the log, not the page
            log.warning("report of %s without its evaluation: %s", ref, unreadable)
            unreadable = f"the {EVALUATION_FILE} stored with {ref} is unreadable"
        page = render_version(manifest, evaluation, aliases=aliases, unreadable=unreadable)
        body = page.encode()
        with self._lock:
            self._kept[key] = body
            while len(self._kept) > REPORTS_KEPT:
                self._kept.popitem(last=False)
        return body
