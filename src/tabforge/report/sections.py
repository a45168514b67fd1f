"""The tables of a version's page: thresholds, data profile, parity, portability, drift."""

from __future__ import annotations

from typing import Any

from tabforge.contract.evaluation import Clustering, Evaluation, Portability, ThresholdRow
from tabforge.report.figures import MAX_BARS, Fig
from tabforge.report.html import Html, badge, breakable, card, esc, join, num, pairs, table, tag
from tabforge.report.subject import MAX_LISTED, Subject

MAX_THRESHOLDS = 19
MAX_PROFILE_COLUMNS = 8
TOP_VALUES = 5


def ok(value: object) -> Html:
    """A yes/no badge; '-' when unknown."""
    if value is None:
        return Html("-")
    return badge("yes", kind="good") if value else badge("no", kind="bad")


def thresholds_card(evaluation: Evaluation) -> Html:
    """Binary: precision, recall and F1 at a few cut-offs, the best F1 marked."""
    cls = evaluation.classification
    rows = cls.thresholds if cls else []
    if not rows:
        return Html("")
    best = max(rows, key=lambda r: r.f1 or -1.0)
    step = max(1, -(-len(rows) // MAX_THRESHOLDS))
    shown = sorted({*rows[::step], best}, key=lambda r: r.threshold)
    body = [_threshold_row(r, r is best) for r in shown]
    head = ["threshold", "precision", "recall", "F1", "predicted positive"]
    sub = f"Cut-offs of the positive class's probability ({num(evaluation.rows)} rows)."
    return card("Thresholds", table(head, body, cls="thresholds"), sub=sub)


def _threshold_row(r: ThresholdRow, best: bool) -> list[object]:
    shown = f"{badge('best F1')} {esc(num(r.threshold))}"
    mark = Html(f'<span class="n">{shown}</span>') if best else r.threshold
    return [mark, r.precision, r.recall, r.f1, r.predicted_positive]


def profile_rows(subject: Subject) -> list[dict[str, Any]]:
    """Each column of the training data, as the manifest profiled it (capped for wide data)."""
    used = {*subject.manifest.inputs.numeric, *subject.manifest.inputs.categorical}
    out = []
    for name, entry in list(subject.manifest.data.profile.items())[:MAX_LISTED]:
        row = {"column": name, "used": name in used, **entry}
        out.append(row)
    return out


def profile_card(subject: Subject, rows: list[dict[str, Any]]) -> Html:
    data = subject.manifest.data
    if not rows:
        return card(
            "Columns", Html(tag("p", "No data profile stored for this version.", class_="missing"))
        )
    head = ["column", "kind", "missing", "mean", "std", "min", "median", "max", "top values"]
    body = [_profile_row(r) for r in rows]
    parts = [table(head, body, cls="profile")]
    if len(data.profile) > len(rows):
        parts.append(
            tag("p", f"The first {len(rows)} of {len(data.profile)} columns.", class_="caption")
        )
    if data.ignored:
        ignored = table(["ignored column", "why"], sorted(data.ignored.items()))
        parts.append(Html(tag("h4", "Ignored columns") + ignored))
    if data.leaks:
        head = ["column", "metric", "score"]
        leaks = table(head, [[leak.get(k) for k in head] for leak in data.leaks])
        parts.append(Html(tag("h4", "Possible leaks") + leaks))
    if data.notes:
        parts.append(tag("ul", join(tag("li", n) for n in data.notes), class_="notes"))
    sub = f"{data.source}, {num(data.rows)} rows; fingerprint {data.fingerprint[:12]}"
    return card("Columns", join(parts), sub=sub)


def _profile_row(r: dict[str, Any]) -> list[object]:
    count, nulls = r.get("count") or 0, r.get("nulls") or 0
    missing = f"{nulls / count:.1%}" if count and nulls else "-"
    kind = str(r.get("kind", "?"))
    if not r["used"] and kind != "target":
        kind += ", unused"
    if "top" in r:
        shown = [f"{v} ({c / max(count - nulls, 1):.0%})" for v, c in r["top"][:TOP_VALUES]]
        more = f", … {r['unique']} values" if (r.get("unique") or 0) > TOP_VALUES else ""
        return [r["column"], kind, missing, "", "", "", "", "", ", ".join(shown) + more]
    median = (r.get("quantiles") or {}).get("0.5")
    return [
        r["column"],
        kind,
        missing,
        r.get("mean"),
        r.get("std"),
        r.get("min"),
        median,
        r.get("max"),
        "",
    ]


def parity_card(parity: dict[str, Any]) -> Html:
    if not parity:
        return card("Parity", tag("p", "No parity report stored.", class_="missing"))
    facts = pairs(
        [
            ("Passed", ok(parity.get("passed"))),
            ("Rows checked", parity.get("rows_checked")),
            ("Hold-out rows", parity.get("holdout_rows")),
            ("Adversarial rows", parity.get("adversarial_rows")),
            ("Label agreement", parity.get("label_agreement")),
            ("Tolerance", parity.get("tolerance")),
            ("Failed rows", parity.get("failed_rows")),
        ]
    )
    abs_diff, rel_diff = parity.get("max_abs_diff") or {}, parity.get("max_rel_diff") or {}
    diffs = table(
        ["output", "max abs diff", "max rel diff"],
        [[k, v, rel_diff.get(k)] for k, v in abs_diff.items()],
    )
    paths = join(badge(p) for p in parity.get("paths") or [])
    sub = "The native pipeline against the ONNX model, through every client wire path."
    return card("Parity", Html(facts + diffs + tag("p", Html("Paths: " + paths))), sub=sub)


def portability_card(subject: Subject) -> Html:
    runtimes = subject.portability()
    if not runtimes:
        return card("Portability", tag("p", subject.not_stored("Portability"), class_="missing"))
    head = ["runtime", "version", "runs", "agrees", "max abs diff", "rows", "missing operators"]
    body = [_portability_row(p) for p in runtimes]
    sub = "Whether model.onnx runs, and agrees with onnxruntime, under each runtime."
    return card("Portability", table(head, body), sub=sub)


def _portability_row(p: Portability) -> list[object]:
    lacking = ", ".join(p.missing_operators) or ("-" if p.runs else p.error or "-")
    return [p.runtime, p.version or "-", ok(p.runs), ok(p.agrees), p.max_abs_diff, p.rows, lacking]


def drift_items(drift: dict[str, Any]) -> list[dict[str, Any]]:
    """Features and outputs, alerts first then by PSI; the per-bin detail left out."""
    keep = (
        "name",
        "kind",
        "psi",
        "js",
        "threshold",
        "alert",
        "missing_rate",
        "out_of_range_rate",
        "unseen_rate",
    )
    items = [
        {**{k: i.get(k) for k in keep}, "group": group}
        for group in ("features", "outputs")
        for i in drift.get(group, [])
    ]
    items.sort(key=lambda i: (not i["alert"], -(i["psi"] or 0.0)))
    return items[:MAX_LISTED]


DRIFT_HEAD = [
    "column",
    "",
    "PSI",
    "JS",
    "PSI limit",
    "JS limit",
    "alert",
    "missing",
    "out of range",
    "unseen",
]


def drift_cards(drift: dict[str, Any], name: str, fig_id: str) -> tuple[Html, Html, Fig]:
    """The verdict, the table per column, and the PSI bars of a file's drift."""
    items = drift_items(drift)
    alerts = [i["name"] for i in items if i["alert"]]
    ref = drift.get("reference") or {}
    if drift.get("reason") == "too_few_rows":
        verdict = badge(f"no alerts: fewer than {drift.get('min_rows')} rows")
    else:
        verdict = badge("drift", kind="bad") if alerts else badge("no drift", kind="good")
    facts = pairs(
        [
            ("Verdict", verdict),
            ("Alerts", ", ".join(alerts) or "none"),
            ("Rows", f"{num(drift.get('rows'))} of {name}"),
            ("Against", f"{num(ref.get('rows'))} {ref.get('source', '')} rows"),
        ]
    )
    sub = (
        "The numbers tabforge drift and the server's monitoring give: a column alerts "
        "when its PSI or JS passes the limit learned at training for this many rows."
    )
    body = [
        [
            i["name"],
            i["group"][:-1],
            i["psi"],
            i["js"],
            (i["threshold"] or {}).get("psi"),
            (i["threshold"] or {}).get("js"),
            badge("ALERT", kind="bad") if i["alert"] else "-",
            _rate(i["missing_rate"]),
            _rate(i["out_of_range_rate"]),
            _rate(i["unseen_rate"]),
        ]
        for i in items
    ]
    bars = sorted((i for i in items if i["psi"] is not None), key=lambda i: -i["psi"])[:MAX_BARS]
    spec = {
        "labels": [i["name"] for i in bars],
        "values": [i["psi"] for i in bars],
        "horizontal": True,
        "xLabel": "PSI against the training data",
    }
    return (
        card("Drift", facts, sub=sub),
        card("Drift per column", table(DRIFT_HEAD, body, cls="drift")),
        Fig(fig_id, "PSI per column", "bars", spec),
    )


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def clusters_card(clustering: Clustering, order: list[str]) -> Html:
    """Each cluster's size and, per column, its mean or most common value (with its share)."""
    total = sum(c.rows for c in clustering.clusters) or 1
    first = clustering.clusters[0] if clustering.clusters else None
    known = [*(first.means if first else {}), *(first.modes if first else {})]
    columns = [c for c in order if c in known] + [c for c in known if c not in order]
    shown = columns[:MAX_PROFILE_COLUMNS]
    body = []
    for c in clustering.clusters:
        cells: list[object] = [c.cluster, c.rows, f"{c.rows / total:.0%}"]
        for column in shown:
            if column in c.modes:
                value, share = c.modes[column]
                cells.append(f"{value} ({share:.0%})")
            else:
                cells.append(c.means.get(column))
        body.append(cells)
    sub = "Per column: the cluster's mean, or its most common value and that value's share."
    if len(columns) > len(shown):
        sub += f" {len(shown)} of {len(columns)} columns, the most important first."
    head = ["cluster", "rows", "share", *map(breakable, shown)]
    return card("Clusters", table(head, body), cls="wide", sub=sub)
