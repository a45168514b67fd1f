/* Draws every figure of a tabforge report from the page's JSON data blob. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("tf-data").textContent);
  var figures = data.figures || {};
  document.querySelectorAll("[data-figure]").forEach(function (el) {
    var f = figures[el.getAttribute("data-figure")];
    if (f && window.TabforgeCharts[f.chart]) window.TabforgeCharts[f.chart](el, f.spec);
  });
})();
