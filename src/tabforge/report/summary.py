"""The top of a version's page: its header, the key numbers as tiles, the details, metrics."""

from __future__ import annotations

from typing import Any

from tabforge.report.html import Html, badge, card, esc, grid, join, num, pairs, table, tag
from tabforge.report.subject import Subject

TASK_WORDS = {
    "classification": "classification",
    "regression": "regression",
    "clustering": "clustering",
}


def task_words(subject: Subject) -> str:
    """'binary classification', '3-class classification', 'regression', 'clustering'."""
    m = subject.manifest
    if m.task == "classification" and m.outputs.classes:
        n = len(m.outputs.classes)
        return "binary classification" if n == 2 else f"{n}-class classification"
    return TASK_WORDS[m.task]


def model_doc(subject: Subject) -> dict[str, Any]:
    """The summary as the page's data and ``--json`` give it."""
    m = subject.manifest
    return {
        "ref": subject.ref,
        "name": m.name,
        "version": m.version,
        "task": m.task,
        "task_words": task_words(subject),
        "estimator": m.estimator.name,
        "class_name": m.estimator.class_name,
        "aliases": list(subject.aliases),
        "created_at": m.created_at,
        "seed": m.seed,
        "model_sha256": m.model_sha256,
        "source": m.data.source,
        "rows": m.data.rows,
        "train_rows": m.data.train_rows,
        "test_rows": m.data.test_rows,
        "target": m.data.target,
        "numeric": len(m.inputs.numeric),
        "categorical": len(m.inputs.categorical),
        "classes": m.outputs.classes,
        "trained_with": m.versions.get("tabforge"),
    }


def header(subject: Subject, *, title: str | None = None) -> Html:
    m = subject.manifest
    aliases = join(badge(a, kind="alias") for a in subject.aliases)
    line = f"{task_words(subject)} · {m.estimator.name} ({m.estimator.class_name}) · {m.created_at}"
    return tag(
        "header",
        join(
            [
                tag("p", "tabforge report", class_="kicker"),
                tag("h1", Html(esc(title or subject.ref) + " " + aliases)),
                tag("p", line, class_="lede"),
            ]
        ),
    )


def primary(subject: Subject) -> tuple[str, Any]:
    metrics = subject.manifest.metrics
    name = str(metrics.get("primary") or next(iter(metrics.get("holdout") or {"-": None})))
    return name, (metrics.get("holdout") or {}).get(name)


def tiles(subject: Subject) -> Html:
    """The four numbers a reader looks for first."""
    m = subject.manifest
    name, value = primary(subject)
    parity = m.parity
    passed = parity.get("passed")
    runtimes = subject.portability()
    agree = (
        " · ".join(f"{p.runtime} {'✓' if p.runs and p.agrees else '✗'}" for p in runtimes)
        if runtimes
        else "not checked"
    )
    rows = f"{num(m.data.train_rows)} train / {num(m.data.test_rows)} test"
    verdict = "passed" if passed else ("failed" if passed is False else "-")
    checked = f"max diff {num(max_diff(parity))} on {num(parity.get('rows_checked'))} rows"
    fine = f"{sum(bool(p.runs and p.agrees) for p in runtimes)}/{len(runtimes)}"
    items = [
        ("Hold-out " + name.replace("_", " "), num(value), m.estimator.name),
        ("Rows", num(m.data.rows), rows),
        ("Parity", verdict, checked),
        ("Runtimes agreeing", fine if runtimes else "-", agree),
    ]
    return grid((_tile(*item) for item in items), cls="tiles")


def _tile(key: str, value: str, sub: str) -> Html:
    parts = zip((key, value, sub), "kvs", strict=True)
    return tag("div", join(tag("div", text, class_=cls) for text, cls in parts), class_="tile")


def max_diff(parity: dict[str, Any]) -> float | None:
    diffs = [v for v in (parity.get("max_abs_diff") or {}).values() if isinstance(v, (int, float))]
    return max(diffs) if diffs else None


def details(subject: Subject) -> Html:
    m = subject.manifest
    short = Html(f'<code title="{esc(m.model_sha256)}">{esc(m.model_sha256[:16])}…</code>')
    inputs = f"{len(m.inputs.numeric)} numeric, {len(m.inputs.categorical)} categorical"
    return card(
        "Summary",
        pairs(
            [
                ("Version", subject.ref),
                ("Task", task_words(subject)),
                ("Estimator", f"{m.estimator.name} ({m.estimator.class_name})"),
                ("Aliases", ", ".join(subject.aliases) or "none"),
                (
                    "Data",
                    f"{m.data.source}: {num(m.data.rows)} rows ({num(m.data.train_rows)} train, "
                    f"{num(m.data.test_rows)} test)",
                ),
                ("Target", m.data.target or "none (clustering)"),
                ("Inputs", inputs),
                ("sha256", short),
                ("Created", m.created_at),
                ("Seed", m.seed),
                ("Trained with", f"tabforge {m.versions.get('tabforge', '?')}"),
            ]
        ),
    )


def metric_rows(subject: Subject) -> list[dict[str, Any]]:
    """Per metric: hold-out at training, CV mean and std, through ONNX, on the file."""
    metrics = subject.manifest.metrics
    holdout = metrics.get("holdout") or {}
    cv = metrics.get("cv") or {}
    onnx = subject.evaluation.metrics if subject.evaluation else {}
    file = subject.on_data.metrics if subject.on_data else {}
    names = list(dict.fromkeys([*holdout, *onnx, *file]))
    return [
        {
            "metric": n,
            "holdout": holdout.get(n),
            "cv_mean": (cv.get(n) or {}).get("mean"),
            "cv_std": (cv.get(n) or {}).get("std"),
            "onnx": onnx.get(n),
            "data": file.get(n),
        }
        for n in names
    ]


def metrics_card(subject: Subject, rows: list[dict[str, Any]]) -> Html:
    metrics = subject.manifest.metrics
    folds = metrics.get("cv_folds")
    head: list[object] = ["metric", "hold-out (training)"]
    cols = ["holdout"]
    if folds:
        head.append(f"CV mean ± std ({folds} folds)")
    if subject.evaluation:
        head.append(f"hold-out through ONNX ({num(subject.evaluation.rows)} rows)")
        cols.append("onnx")
    if subject.on_data:
        head.append(f"{subject.data_name} ({num(subject.on_data.rows)} rows)")
        cols.append("data")
    body = []
    for row in rows:
        cells: list[object] = [_metric_name(row["metric"], metrics.get("primary")), row["holdout"]]
        if folds:
            cells.append(
                Html(
                    f'<span class="n">{esc(num(row["cv_mean"]))} '
                    f"<small>± {esc(num(row['cv_std']))}</small></span>"
                )
            )
        cells += [row[c] for c in cols[1:]]
        body.append(cells)
    note = (
        ""
        if folds
        else tag(
            "p",
            "No cross-validation for this version (train with --cv K to see the spread).",
            class_="caption",
        )
    )
    return card("Metrics", Html(table(head, body) + note))


def _metric_name(name: str, primary_name: Any) -> Html:
    shown = esc(name.replace("_", " "))
    return Html(f"<b>{shown}</b> {badge('primary')}") if name == primary_name else shown
