"""A version's page: summary, metrics, the task's figures, importance, data, verification.

``render_subject`` is what ``tabforge report REF`` and the server's
``GET /v2/models/{name}/versions/{v}/report`` both call: it reads nothing from disk but
the package's own static files and imports no scikit-learn. Parts a version does not have
(versions trained before evaluations were stored) get a visible note saying so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tabforge import __version__
from tabforge.contract.evaluation import Evaluation
from tabforge.contract.manifest import Manifest
from tabforge.report import sections, summary
from tabforge.report.figures import Fig, importance_fig, scales_of, task_figs
from tabforge.report.html import Html, figure, grid, join, missing, section, tag
from tabforge.report.page import document
from tabforge.report.subject import Subject, trimmed


@dataclass
class Sheet:
    """Collects the figures a page draws while its HTML is written."""

    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def draw(self, fig: Fig) -> Html:
        self.figures[fig.id] = fig.doc()
        return figure(fig.id, fig.title, fig.caption)

    def lack(self, text: str) -> Html:
        self.missing.append(text)
        return missing(text)


def nav(links: Sequence[tuple[str, str]]) -> Html:
    return tag("nav", join(tag("a", text, href=f"#{anchor}") for anchor, text in links))


def evaluation_block(subject: Subject, sheet: Sheet) -> Html:
    runs = subject.runs()
    if not runs:
        return section("Evaluation", sheet.lack(subject.not_stored("Figures")), anchor="evaluation")
    scales = scales_of(subject.manifest.data.profile)
    cards = [sheet.draw(f) for f in task_figs("v", runs, scales)]
    shown = subject.on_data or subject.evaluation
    if shown is not None:
        cards.append(sections.thresholds_card(shown))
        if shown.clustering is not None:
            order = [i.column for i in sorted(shown.importance, key=lambda i: -i.mean)]
            cards.append(sections.clusters_card(shown.clustering, order))
    where = " and ".join(f"{name} ({ev.rows:,} rows)" for name, ev in runs)
    parts = [tag("p", f"Through the stored ONNX model, on the {where}.", class_="lede")]
    if subject.evaluation is None:
        parts.append(sheet.lack(subject.not_stored("Hold-out figures")))
    parts.append(grid(c for c in cards if c))
    return section("Evaluation", join(parts), anchor="evaluation")


def importance_block(subject: Subject, sheet: Sheet) -> Html:
    importance, metric = subject.importance()
    if not importance:
        body = sheet.lack(subject.not_stored("Permutation importance"))
    else:
        fig = importance_fig("v-importance", "Permutation importance", importance, metric)
        body = sheet.draw(fig)
    return section("What the model uses", body, anchor="importance")


def version_body(subject: Subject, sheet: Sheet) -> tuple[Html, dict[str, Any]]:
    """The page's body, and the data it shows (``--json``)."""
    metric_rows = summary.metric_rows(subject)
    profile = sections.profile_rows(subject)
    parts = [
        summary.tiles(subject),
        grid([summary.details(subject), summary.metrics_card(subject, metric_rows)], cls="two"),
        evaluation_block(subject, sheet),
        importance_block(subject, sheet),
    ]
    drift = None
    if subject.on_data is not None and subject.drift is None:
        note = "Drift: this version has no monitoring reference (trained before monitoring, "
        parts.append(
            section(
                "Drift",
                sheet.lack(note + "and its data profile does not cover its inputs)."),
                anchor="drift",
            )
        )
    if subject.drift is not None:
        verdict, per_column, fig = sections.drift_cards(subject.drift, subject.data_name, "v-drift")
        top = grid([verdict, sheet.draw(fig)], cls="two")
        parts.append(section("Drift", join([top, per_column]), anchor="drift"))
        drift = {k: v for k, v in subject.drift.items() if k not in ("features", "outputs")}
        drift["items"] = sections.drift_items(subject.drift)
    parts.append(section("Data", sections.profile_card(subject, profile), anchor="data"))
    checks = [sections.parity_card(subject.manifest.parity), sections.portability_card(subject)]
    if not subject.portability():
        sheet.missing.append(subject.not_stored("Portability"))
    parts.append(section("Verification", grid(checks, cls="two"), anchor="verification"))
    doc = {
        "metrics": {
            "primary": subject.manifest.metrics.get("primary"),
            "cv_folds": subject.manifest.metrics.get("cv_folds"),
            "rows": metric_rows,
        },
        "evaluation": trimmed(subject.evaluation),
        "data_evaluation": trimmed(subject.on_data),
        "drift": drift,
        "profile": profile,
        "ignored": subject.manifest.data.ignored,
        "parity": subject.manifest.parity,
    }
    return join(parts), doc


def version_doc(subject: Subject) -> tuple[str, dict[str, Any]]:
    """The page's HTML and the data it shows."""
    sheet = Sheet()
    body, shown = version_body(subject, sheet)
    links = [
        ("evaluation", "Evaluation"),
        ("importance", "Importance"),
        *([("drift", "Drift")] if subject.drift or subject.on_data else []),
        ("data", "Data"),
        ("verification", "Verification"),
    ]
    header = Html(summary.header(subject) + nav(links))
    doc = {
        "report": "version",
        "tabforge": __version__,
        "model": summary.model_doc(subject),
        **shown,
        "missing": sheet.missing,
        "figures": sheet.figures,
    }
    title = f"{subject.ref} · tabforge report"
    return document(title=title, header=header, body=body, doc=doc), doc


def render_subject(subject: Subject) -> str:
    return version_doc(subject)[0]


def render_version(
    manifest: Manifest,
    evaluation: Evaluation | None,
    *,
    aliases: Sequence[str] = (),
    on_data: Evaluation | None = None,
    drift: dict[str, Any] | None = None,
    unreadable: str = "",
) -> str:
    """One version's self-contained HTML page (for the server: no file I/O, no sklearn)."""
    subject = Subject(manifest, evaluation, tuple(aliases), on_data, drift, unreadable)
    return render_subject(subject)
