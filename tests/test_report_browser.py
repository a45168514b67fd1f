"""The report in a real browser: every figure draws its data, with no error and no request.

Debian's chromium, headless (the ``browsed`` fixture): a page is opened from its file://
URL exactly as a user double-clicks it; each figure must hold one ``svg.tf-chart`` with
data points, the console must stay clean and nothing but the file itself may be fetched.
Screenshots land in the test's tmp_path (or $TABFORGE_SCREENSHOTS).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from tabforge.cli import main
from tests.browser import Browsed


def invoke(*args: str) -> None:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.stderr


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A binary classification page, a regression page, a comparison, one with --data, and
    a clustering page (wine: 14 columns with long names, for the cluster table and heatmap)."""
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

    d = tmp_path_factory.mktemp("report-pages")
    cancer = load_breast_cancer(as_frame=True)
    frame: pd.DataFrame = cancer.frame.assign(
        target=[str(cancer.target_names[t]) for t in cancer.target]
    )
    frame.to_csv(d / "cancer.csv", index=False)
    load_diabetes(as_frame=True, scaled=False).frame.to_csv(d / "diabetes.csv", index=False)
    reg = ["--registry", str(d / "models")]
    few = ["-m", "lightgbm", "-p", "n_estimators=20", "--target", "target", "-q", *reg]
    invoke("train", str(d / "cancer.csv"), *few)
    invoke("train", str(d / "cancer.csv"), "-m", "logistic", "--target", "target", "-q", *reg)
    invoke("train", str(d / "diabetes.csv"), *few)
    load_wine(as_frame=True).frame.to_csv(d / "wine.csv", index=False)
    invoke("train", str(d / "wine.csv"), "-m", "kmeans", "-p", "n_clusters=4", "-q", *reg)
    names = ("cancer", "diabetes", "compare", "data", "clusters")
    out = {name: d / f"{name}.html" for name in names}
    invoke("report", "cancer:1", "-o", str(out["cancer"]), *reg)
    invoke("report", "diabetes:1", "-o", str(out["diabetes"]), *reg)
    invoke("report", "cancer:1", "cancer:2", "-o", str(out["compare"]), *reg)
    invoke("report", "cancer:2", "--data", str(d / "cancer.csv"), "-o", str(out["data"]), *reg)
    invoke("report", "wine:1", "-o", str(out["clusters"]), *reg)
    return out


# Every element of a card (tables, their cells, charts, their labels) inside the card's box;
# every two horizontal labels of a chart apart. What is left: [card title, what, where].
LAYOUT_PROBLEMS = """() => {
  const out = [];
  for (const card of document.querySelectorAll(".card, .tile")) {
    const box = card.getBoundingClientRect(), title = card.querySelector("h3")?.textContent;
    for (const el of card.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      if (r.left < box.left - 1 || r.right > box.right + 1 || r.bottom > box.bottom + 1) {
        out.push([title, el.tagName + " " + el.textContent.slice(0, 30) + " overflows",
                  [r.left, r.right, box.left, box.right].map(Math.round).join(" ")]);
      }
    }
  }
  for (const svg of document.querySelectorAll("svg.tf-chart")) {
    const flat = [...svg.querySelectorAll("text")].filter(
      (t) => t.textContent.trim() && !(t.getAttribute("transform") || "").includes("rotate"));
    const boxes = flat.map((t) => [t.textContent, t.getBoundingClientRect()]);
    boxes.forEach(([a, r], i) => boxes.slice(i + 1).forEach(([b, q]) => {
      const w = Math.min(r.right, q.right) - Math.max(r.left, q.left);
      const h = Math.min(r.bottom, q.bottom) - Math.max(r.top, q.top);
      if (w > 1 && h > 1) out.push([svg.closest("[data-figure]").dataset.figure, a + " overlaps " + b, ""]);
    }));
  }
  return out;
}"""


@pytest.mark.parametrize("width", [1280, 900])
@pytest.mark.parametrize("page", ["clusters", "cancer", "diabetes", "compare", "data"])
def test_nothing_runs_out_of_its_card_and_no_chart_labels_overlap(
    browsed: Browsed, pages: dict[str, Path], page: str, width: int
) -> None:
    browsed.page.set_viewport_size({"width": width, "height": 900})
    browsed.page.goto(pages[page].as_uri())
    assert browsed.page.locator("svg.tf-chart").count() >= 3
    assert browsed.page.evaluate(LAYOUT_PROBLEMS) == []
    assert browsed.problems() == []


@pytest.mark.parametrize("page", ["cancer", "diabetes", "compare", "data"])
def test_every_figure_draws_its_data_with_no_error_and_no_request(
    browsed: Browsed, pages: dict[str, Path], tmp_path: Path, page: str
) -> None:
    url = pages[page].as_uri()
    browsed.page.goto(url)
    figures = browsed.page.locator("[data-figure]")
    assert figures.count() >= 3
    for i in range(figures.count()):
        figure = figures.nth(i)
        charts = figure.locator("svg.tf-chart")
        assert charts.count() == 1, figure.get_attribute("data-figure")
        points = int(charts.first.get_attribute("data-points") or 0)
        assert points > 0, f"{figure.get_attribute('data-figure')} drew no data"
    assert browsed.problems() == []
    assert set(browsed.requests) == {url}
    shot = browsed.screenshot(tmp_path, f"report-{page}")
    assert shot.stat().st_size > 10_000


def test_a_chart_with_no_data_says_so_instead_of_failing(
    browsed: Browsed, pages: dict[str, Path]
) -> None:
    browsed.page.goto(pages["cancer"].as_uri())
    drawn = browsed.page.evaluate(
        """() => {
        const el = document.createElement("div");
        document.body.appendChild(el);
        const C = window.TabforgeCharts;
        return [
          C.line(el, {series: [{name: "a", points: [[null, 1], [0, null]]}]}),
          C.bars(el, {labels: ["x"], values: [null]}),
          C.histogram(el, {edges: [], counts: []}),
          C.heatmap(el, {rows: ["r"], cols: ["c"], values: [[null]]}),
          C.line(el, {}),
        ].map(svg => [svg.getAttribute("data-points"), svg.textContent.includes("no data")]);
      }"""
    )
    assert drawn == [["0", True]] * 5
    assert browsed.problems() == []
