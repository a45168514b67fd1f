"""``tabforge report A B``: the promote decision on one page.

Metrics side by side with their deltas (coloured by which way is better), both versions'
curves overlaid in the same axes, what changed in the schema, importance side by side,
and parity and portability of each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tabforge import __version__
from tabforge.registry.compat import incompatibilities
from tabforge.report import sections
from tabforge.report.figures import importance_fig, scales_of, task_figs
from tabforge.report.html import Html, badge, card, esc, grid, join, num, section, table, tag
from tabforge.report.page import document
from tabforge.report.schema import schema_changes
from tabforge.report.subject import Subject, trimmed
from tabforge.report.summary import max_diff, metric_rows, model_doc, task_words
from tabforge.report.version import Sheet, nav

LOWER_IS_BETTER = {"log_loss", "rmse", "mae", "mse", "mape", "bic", "inertia"}
NEUTRAL = {"clusters_used"}
MAX_RANKED = 15


def delta(name: str, a: Any, b: Any) -> Html:
    """B - A, green when B is better, orange when worse."""
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return Html("-")
    change = float(b) - float(a)
    better = change < 0 if name in LOWER_IS_BETTER else change > 0
    kind = "" if name in NEUTRAL or change == 0 else "better" if better else "worse"
    return tag("span", f"{'+' if change > 0 else ''}{num(change)}", class_=f"n delta {kind}")


def metrics_table(a: Subject, b: Subject, column: str) -> tuple[Html, list[dict[str, Any]]]:
    rows_a = {r["metric"]: r[column] for r in metric_rows(a)}
    rows_b = {r["metric"]: r[column] for r in metric_rows(b)}
    names = list(dict.fromkeys([*rows_a, *rows_b]))
    doc = [{"metric": n, "a": rows_a.get(n), "b": rows_b.get(n)} for n in names]
    body = [
        [n.replace("_", " "), r["a"], r["b"], delta(n, r["a"], r["b"])]
        for n, r in zip(names, doc, strict=True)
    ]
    return table(["metric", a.ref, b.ref, "change"], body, cls="compare"), doc


def summary_card(a: Subject, b: Subject) -> Html:
    def facts(s: Subject) -> list[object]:
        m = s.manifest
        return [
            f"{m.estimator.name} ({m.estimator.class_name})",
            m.created_at,
            ", ".join(s.aliases) or "-",
            f"{m.data.source}, {num(m.data.rows)} rows",
            f"{num(m.data.train_rows)} / {num(m.data.test_rows)}",
            str(m.seed),
            Html(f"<code>{esc(m.model_sha256[:16])}…</code>"),
            "same" if m.data.fingerprint == a.manifest.data.fingerprint else "different",
        ]

    labels = [
        "estimator",
        "created",
        "aliases",
        "data",
        "train / test rows",
        "seed",
        "sha256",
        "data fingerprint",
    ]
    return _side_by_side("Versions", labels, a, b, facts)


def _side_by_side(
    title: str, labels: list[str], a: Subject, b: Subject, facts: Callable[[Subject], list[Any]]
) -> Html:
    """A card: one row per label, the two versions' facts in two columns."""
    rows = [[label, x, y] for label, x, y in zip(labels, facts(a), facts(b), strict=True)]
    return card(title, table(["", a.ref, b.ref], rows))


def schema_card(a: Subject, b: Subject) -> tuple[Html, dict[str, Any]]:
    changes = schema_changes(a.manifest, b.manifest)
    problems = incompatibilities(a.manifest, b.manifest)
    verdict = badge("compatible", kind="good") + esc(f" {b.ref} can replace {a.ref} for clients")
    if problems:
        verdict = badge("incompatible", kind="bad") + esc(" " + "; ".join(problems))
    body = [[c["what"], c["column"], str(c["a"]), str(c["b"])] for c in changes]
    shown = (
        table(["change", "column", a.ref, b.ref], body)
        if body
        else tag("p", "Same columns, kinds, categories, target and classes.")
    )
    doc = {"changes": changes, "compatible": not problems, "problems": problems}
    return card("Schema", Html(tag("p", Html(verdict)) + shown)), doc


def importance_block(a: Subject, b: Subject, sheet: Sheet) -> Html:
    parts = []
    for i, s in enumerate((a, b)):
        importance, metric = s.importance()
        if importance:
            fig = importance_fig(f"c-importance{i}", f"Importance, {s.ref}", importance, metric)
            parts.append(sheet.draw(fig))
        else:
            note = sheet.lack(s.not_stored(f"Permutation importance of {s.ref}"))
            parts.append(card(f"Importance, {s.ref}", note))
    body = grid(parts, cls="two")
    ranked = importance_table(a, b)
    if ranked:
        body = Html(body + ranked)
    return section("What the models use", body, anchor="importance")


def importance_table(a: Subject, b: Subject) -> Html:
    """The columns either version relies on most, with both importances and ranks."""
    found = [{i.column: i.mean for i in s.importance()[0]} for s in (a, b)]
    if not all(found):
        return Html("")
    ranks = [{c: r + 1 for r, c in enumerate(sorted(f, key=lambda c: -f[c]))} for f in found]
    columns = sorted({*found[0], *found[1]}, key=lambda c: min(r.get(c, 10**9) for r in ranks))
    rows = [
        [c, found[0].get(c), ranks[0].get(c), found[1].get(c), ranks[1].get(c)]
        for c in columns[:MAX_RANKED]
    ]
    head = ["column", f"{a.ref}", "rank", f"{b.ref}", "rank"]
    sub = "The columns either version relies on most: the drop in its metric when shuffled."
    return card("Importance side by side", table(head, rows), sub=sub)


def figures_block(a: Subject, b: Subject, sheet: Sheet) -> Html:
    named = [(s.ref, s.on_data or s.evaluation) for s in (a, b)]
    runs = [(name, ev) for name, ev in named if ev is not None]
    notes = [
        sheet.lack(s.not_stored(f"Figures of {s.ref}"))
        for (_, ev), s in zip(named, (a, b), strict=True)
        if ev is None
    ]
    scales = scales_of(b.manifest.data.profile) or scales_of(a.manifest.data.profile)
    figs = grid(sheet.draw(f) for f in task_figs("c", runs, scales)) if runs else Html("")
    where = "on " + (a.data_name if a.on_data else "each version's hold-out")
    lede = tag(
        "p", f"Both versions in the same axes, through their ONNX models, {where}.", class_="lede"
    )
    return section("Evaluation", join([lede, *notes, figs]), anchor="evaluation")


def checks_card(a: Subject, b: Subject) -> Html:
    def facts(s: Subject) -> list[object]:
        p = s.manifest.parity
        runtimes = {r.runtime: r for r in s.portability()}
        cells: list[object] = [
            sections.ok(p.get("passed")),
            p.get("rows_checked"),
            p.get("adversarial_rows"),
            max_diff(p),
        ]
        for name in ("onnxruntime", "tract"):
            r = runtimes.get(name)
            cells.append(sections.ok(r.runs and r.agrees) if r else "not checked")
        return cells

    labels = [
        "parity passed",
        "rows checked",
        "adversarial rows",
        "max abs diff",
        "onnxruntime agrees",
        "tract agrees",
    ]
    return _side_by_side("Parity and portability", labels, a, b, facts)


def comparison_doc(a: Subject, b: Subject) -> tuple[str, dict[str, Any]]:
    """The comparison page's HTML and the data it shows."""
    sheet = Sheet()
    held, held_doc = metrics_table(a, b, "holdout")
    metric_cards = [card("Metrics on the hold-out", held)]
    doc: dict[str, Any] = {
        "report": "comparison",
        "tabforge": __version__,
        "a": model_doc(a),
        "b": model_doc(b),
        "metrics": held_doc,
    }
    if a.on_data and b.on_data:
        on_file, doc["data_metrics"] = metrics_table(a, b, "data")
        metric_cards.append(card(f"Metrics on {a.data_name}", on_file))
    schema, doc["schema"] = schema_card(a, b)
    body = join(
        [
            grid([summary_card(a, b), *metric_cards], cls="two"),
            figures_block(a, b, sheet),
            importance_block(a, b, sheet),
            section(
                "Schema and checks", grid([schema, checks_card(a, b)], cls="two"), anchor="schema"
            ),
        ]
    )
    lede = f"{task_words(b)} · {a.manifest.estimator.name} → {b.manifest.estimator.name}"
    header = join(
        [
            tag(
                "header",
                join(
                    [
                        tag("p", "tabforge comparison", class_="kicker"),
                        tag("h1", f"{a.ref} vs {b.ref}"),
                        tag("p", lede, class_="lede"),
                    ]
                ),
            ),
            nav(
                [
                    ("evaluation", "Evaluation"),
                    ("importance", "Importance"),
                    ("schema", "Schema and checks"),
                ]
            ),
        ]
    )
    doc |= {
        "evaluation": {
            "a": trimmed(a.on_data or a.evaluation),
            "b": trimmed(b.on_data or b.evaluation),
        },
        "missing": sheet.missing,
        "figures": sheet.figures,
    }
    title = f"{a.ref} vs {b.ref} · tabforge report"
    return document(title=title, header=header, body=body, doc=doc), doc


def render_comparison(a: Subject, b: Subject) -> str:
    """Two versions on one self-contained page (no file I/O, no sklearn)."""
    return comparison_doc(a, b)[0]
