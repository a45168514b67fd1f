"""Building the page's HTML: every text escaped by default, every number formatted one way.

Column names, class labels and file names come from users' files and can hold ``<``,
quotes or ``</script>``. ``Html`` marks a string that is already markup; anything else that
reaches a cell or a title goes through ``esc`` exactly once, so escaping cannot be
forgotten or done twice.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from html import escape


class Html(str):
    """Markup, safe to place as is (everything else is escaped)."""

    __slots__ = ()


Cell = object  # a value shown in a table: Html as is, numbers formatted, the rest escaped


def esc(value: object) -> Html:
    return value if isinstance(value, Html) else Html(escape(str(value), quote=True))


def num(value: object) -> str:
    """4 significant digits; thousands grouped; '-' for missing. Plain text, not markup."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        size = abs(value)
        if size >= 1e4:
            return f"{value:,.0f}" if size < 1e9 else f"{value:.4g}"
        return f"{value:.4g}" if size >= 1e-4 or value == 0 else f"{value:.3e}"
    return str(value)


def cell(value: Cell) -> Html:
    if isinstance(value, Html):
        return value
    if isinstance(value, (int, float)) or value is None:
        return Html(f'<span class="n">{esc(num(value))}</span>')
    return esc(value)


def tag(name: str, body: Cell = "", **attrs: object) -> Html:
    """``<name attrs>body</name>``; attribute names end in _ where Python needs it."""
    shown = "".join(
        f' {k.rstrip("_").replace("_", "-")}="{esc(v)}"' for k, v in attrs.items() if v is not None
    )
    return Html(f"<{name}{shown}>{cell(body)}</{name}>")


def breakable(name: str) -> Html:
    """A column name that may wrap after its separators (alcalinity_of_ash, od280/od315):
    a header then needs no more width than its longest part."""
    return Html(re.sub(r"([_/.-]+)", r"\1<wbr>", esc(name)))


def join(parts: Iterable[Html]) -> Html:
    return Html("".join(parts))


def table(head: Sequence[Cell], rows: Iterable[Sequence[Cell]], *, cls: str | None = None) -> Html:
    """A table; numeric cells right-aligned by the stylesheet (class ``n``)."""
    listed = [list(row) for row in rows]
    numeric = [any(_numeric(r[i]) for r in listed if i < len(r)) for i in range(len(head))]
    kinds = ["n" if n else None for n in numeric]
    header = join(tag("th", h, class_=k) for h, k in zip(head, kinds, strict=True))
    body = join(tag("tr", join(tag("td", c) for c in row)) for row in listed)
    return tag("table", Html(f"<thead><tr>{header}</tr></thead><tbody>{body}</tbody>"), class_=cls)


def _numeric(value: Cell) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) or (
        isinstance(value, Html) and value.startswith('<span class="n')
    )


def pairs(items: Iterable[tuple[str, Cell]]) -> Html:
    """A definition list: label, value; for the summary cards."""
    return tag("dl", join(Html(f"<dt>{esc(k)}</dt><dd>{cell(v)}</dd>") for k, v in items))


def card(title: str, body: Html, *, cls: str | None = None, sub: str | None = None) -> Html:
    heading = tag("h3", title) + (tag("p", sub, class_="sub") if sub else "")
    return tag("section", Html(heading + body), class_=f"card {cls or ''}".strip())


def section(title: str, body: Html, *, anchor: str) -> Html:
    return tag("section", Html(tag("h2", title) + body), class_="block", id=anchor)


def figure(figure_id: str, title: str, caption: str | None = None) -> Html:
    """A card the page's script draws chart ``figure_id`` into (see ``page.INIT``)."""
    body = tag("div", "", class_="tf-figure", data_figure=figure_id)
    if caption:
        body = Html(body + tag("p", caption, class_="caption"))
    return card(title, body, cls="figure")


def grid(parts: Iterable[Html], *, cls: str = "grid") -> Html:
    return tag("div", join(parts), class_=cls)


def missing(text: str) -> Html:
    """The visible note for a part this version does not have; `commands` as code."""
    parts = text.split("`")
    shown = join(tag("code", p) if i % 2 else esc(p) for i, p in enumerate(parts))
    return tag("p", shown, class_="missing")


def badge(text: str, *, kind: str = "") -> Html:
    return tag("span", text, class_=f"badge {kind}".strip())
