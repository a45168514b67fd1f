/* tabforge dashboard: a version's drift and live quality (window.TabforgeDashDrift): its
 * badge, the live quality line and the per-column drift table from /dashboard.json's monitor
 * window. Text goes through textContent only (TabforgeDash.h).
 */
(function () {
  "use strict";

  var D = window.TabforgeDash;
  var h = D.h, append = D.append, ok = D.ok, num = D.num, percent = D.percent;

  function driftBadge(v, server) {
    if (!server.monitor) return h("span", { class: "badge off" }, "monitoring off");
    var dr = v.drift;
    if (dr.drift !== "on") return h("span", { class: "badge off" }, "no reference");
    if (dr.alert) return h("span", { class: "badge alert" }, "drift alert");
    if (!dr.rows) return h("span", { class: "badge off", title: "no rows predicted in the window" }, "no traffic");
    var waiting = dr.features.concat(dr.outputs).some(function (f) { return f.reason; });
    if (waiting) return h("span", { class: "badge wait", title: "the alert limits need more rows in the window" }, "too few rows");
    return h("span", { class: "badge ok" }, "ok");
  }

  function liveLine(dr, task) {
    var live = dr.live, parts = [];
    var hold = live.holdout || {};
    function metric(label, key, digits) {
      if (!ok(live[key])) return;
      parts.push(h("span", {}, h("span", { class: "k" }, label + " "), num(live[key], digits),
        ok(hold[key]) ? h("span", { class: "muted" }, " (hold-out " + num(hold[key], digits) + ")") : null));
    }
    if (task === "classification") {
      if (ok(live.expected_accuracy_estimate)) {
        parts.push(h("span", {}, h("span", { class: "k" }, "expected accuracy, no labels "),
          num(live.expected_accuracy_estimate, 3),
          ok(hold.accuracy) ? h("span", { class: "muted" }, " (hold-out accuracy " + num(hold.accuracy, 3) + ")") : null));
      }
      metric("accuracy", "accuracy", 3);
      metric("log loss", "log_loss", 3);
    } else {
      metric("MAE", "mae", 3);
      metric("RMSE", "rmse", 3);
    }
    parts.push(h("span", {}, h("span", { class: "k" }, "labelled rows "), num(live.labels, 0)));
    var out = [];
    parts.forEach(function (p, i) { if (i) out.push(" \u00b7 "); out.push(p); });
    return h("div", { class: "live" }, out);
  }

  function driftBlock(m, v, server) {
    var title = h("h3", {}, m.name + " v" + v.version + " \u00b7 drift and live quality", driftBadge(v, server));
    if (!server.monitor) {
      return h("div", { class: "drift-block", "data-version": v.version }, title,
        h("div", { class: "live muted" }, "monitoring off: the server runs with --no-monitor"));
    }
    var dr = v.drift;
    append(title, h("span", { class: "muted" }, "last " + dr.window + ": " + num(dr.rows, 0) + " rows" +
      (dr.drift_rows !== dr.rows ? " (" + num(dr.drift_rows, 0) + " binned)" : "")));
    var block = h("div", { class: "drift-block" + (dr.alert ? " alerting" : ""), "data-version": v.version }, title, liveLine(dr, v.task));
    if (dr.drift !== "on") {
      append(block, h("div", { class: "muted" }, "no drift reference in this version's manifest (stored before monitoring)"));
      return block;
    }
    if (!dr.rows) {
      append(block, h("div", { class: "muted" }, "no rows predicted in the last " + dr.window + ": nothing to compare yet"));
      return block;
    }
    append(block, driftTable(dr));
    return block;
  }

  function byPsi(a, b) {
    if (a.alert !== b.alert) return a.alert ? -1 : 1;
    return (ok(b.psi) ? b.psi : -1) - (ok(a.psi) ? a.psi : -1);
  }

  function driftTable(dr) {
    var columns = dr.features.concat(dr.outputs);
    var scale = 0;
    columns.forEach(function (f) {
      if (ok(f.psi)) scale = Math.max(scale, f.psi);
      if (f.threshold) scale = Math.max(scale, f.threshold.psi * 1.5);
    });
    scale = scale || 0.25;
    var head = h("tr", {}, ["Column", "PSI (bar; line = alert limit)", "PSI", "JS", "Missing", "Out of range / unseen", "Status"]
      .map(function (t, i) { return h("th", { class: i >= 2 && i <= 5 ? "num" : null }, t); }));
    var body = [];
    [["features", dr.features], ["outputs", dr.outputs]].forEach(function (g) {
      if (!g[1].length) return;
      body.push(h("tr", { class: "group-row" }, h("td", { colspan: 7 }, g[0] === "features" ? "input columns" : "model outputs")));
      g[1].slice().sort(byPsi).forEach(function (f) { body.push(driftRow(f, scale)); });
    });
    return h("div", { class: "table-wrap" }, h("table", { class: "drift-table" }, h("thead", {}, head), h("tbody", {}, body)));
  }

  /* Which statistic crossed its limit (the bar shows PSI; JS alerts too). */
  function overLimit(f) {
    if (!f.threshold) return "";
    var over = [];
    if (f.psi > f.threshold.psi) over.push("PSI " + num(f.psi, 3) + " > " + num(f.threshold.psi, 3));
    if (f.js > f.threshold.js) over.push("JS " + num(f.js, 3) + " > " + num(f.threshold.js, 3));
    return over.join(", ");
  }

  function driftRow(f, scale) {
    var width = ok(f.psi) ? Math.min(100, f.psi / scale * 100) : 0;
    var track = h("div", { class: "psi-track", title: "PSI " + num(f.psi, 4) + (f.threshold ? ", alert above " + num(f.threshold.psi, 4) : "") },
      h("div", { class: "psi-fill" + (f.alert ? " alert" : ""), style: { width: width.toFixed(1) + "%" } }),
      f.threshold ? h("div", { class: "psi-limit", style: { left: Math.min(100, f.threshold.psi / scale * 100).toFixed(1) + "%" } }) : null);
    var other = f.kind === "numeric" ? f.out_of_range_rate : f.unseen_rate;
    var status = f.alert ? h("span", { class: "badge alert", title: overLimit(f) }, "alert")
      : !ok(f.psi) ? h("span", { class: "muted" }, "no rows")
        : f.reason ? h("span", { class: "badge wait", title: f.reason }, "few rows")
          : h("span", { class: "badge ok" }, "ok");
    return h("tr", { class: f.alert ? "alert" : null, "data-column": f.name },
      h("td", {}, f.name, " ", h("span", { class: "muted" }, f.kind)),
      h("td", { class: "psi-cell" }, track),
      h("td", { class: "num" }, num(f.psi, 3)),
      h("td", { class: "num" }, num(f.js, 3)),
      h("td", { class: "num" }, percent(f.missing_rate)),
      h("td", { class: "num" }, percent(other)),
      h("td", {}, status));
  }

  window.TabforgeDashDrift = { badge: driftBadge, block: driftBlock };
})();
