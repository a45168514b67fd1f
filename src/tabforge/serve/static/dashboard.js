/* tabforge live dashboard: polls /dashboard.json and draws what is served and how it runs.
 *
 * The server sends cumulative numbers only (counters and histogram buckets, every worker's).
 * This page keeps the snapshots it received and turns two of them into rates and p50/p99:
 * between consecutive snapshots for the charts (which accumulate here, for HISTORY_S), over
 * the last TILE_S seconds for the tiles. Text from the server (model and column names) goes
 * through textContent only. With API keys set (data-keys on <body>), a key is asked for once,
 * kept in sessionStorage and sent as "Authorization: Bearer"; reports are then fetched with
 * it and opened from a blob: URL.
 */
(function () {
  "use strict";

  var REFRESH_MS = 2500;
  var HISTORY_S = 300;
  var TILE_S = 30;
  var KEY = "tabforge.apiKey";
  var WINDOW = "tabforge.window";
  var PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000"];

  var state = { snaps: [], series: {}, cards: {}, timer: null, failures: 0 };
  var needsKey = document.body.getAttribute("data-keys") === "yes";

  // -- DOM ---------------------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  /* h("td", {class: "num"}, "12", child, ...): strings become text nodes, never markup. */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "style") Object.keys(v).forEach(function (p) { el.style[p] = v[p]; });
      else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    });
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }

  function append(el, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(el, c); }); return; }
    el.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }

  function fill(el, children) {
    while (el.firstChild) el.removeChild(el.firstChild);
    append(el, children);
  }

  // -- numbers -----------------------------------------------------------------------------

  function ok(v) { return typeof v === "number" && isFinite(v); }
  var DASH = "\u2013";

  function num(v, digits) {
    if (!ok(v)) return DASH;
    return v.toLocaleString("en", { maximumFractionDigits: digits === undefined ? 1 : digits });
  }

  function perSecond(v) {
    if (!ok(v)) return DASH;
    return num(v, v >= 100 ? 0 : v >= 10 ? 1 : 2);
  }

  function millis(seconds) {
    if (!ok(seconds)) return DASH;
    var m = seconds * 1000;
    return num(m, m >= 100 ? 0 : m >= 10 ? 1 : 2);
  }

  function percent(v, digits) { return ok(v) ? num(v * 100, digits === undefined ? 1 : digits) + "\u202f%" : DASH; }

  function total(counts, pick) {
    var s = 0;
    Object.keys(counts || {}).forEach(function (k) { if (!pick || pick(k)) s += counts[k]; });
    return s;
  }

  function isError(code) { return Number(code) >= 400; }

  function zeros(hist) { return { bounds: hist.bounds, counts: hist.counts.map(function () { return 0; }), sum: 0 }; }

  /* The difference of two cumulative histograms (older may be missing: zeros). null on a reset. */
  function histDelta(older, newer) {
    if (!newer) return null;
    if (!older || older.counts.length !== newer.counts.length) older = zeros(newer);
    var counts = newer.counts.map(function (c, i) { return c - older.counts[i]; });
    if (counts.some(function (c) { return c < 0; })) return null;
    return { bounds: newer.bounds, counts: counts, sum: newer.sum - older.sum };
  }

  /* Prometheus' histogram_quantile: linear inside the bucket; the last finite bound caps it. */
  function quantile(q, d) {
    if (!d) return null;
    var n = d.counts[d.counts.length - 1];
    if (!(n > 0)) return null;
    var rank = q * n;
    for (var i = 0; i < d.bounds.length; i++) {
      if (d.counts[i] >= rank) {
        var lo = i ? d.bounds[i - 1] : 0, below = i ? d.counts[i - 1] : 0;
        var inside = d.counts[i] - below;
        return inside > 0 ? lo + (d.bounds[i] - lo) * (rank - below) / inside : d.bounds[i];
      }
    }
    return d.bounds[d.bounds.length - 1];
  }

  function mean(d) {
    if (!d) return null;
    var n = d.counts[d.counts.length - 1];
    return n > 0 ? d.sum / n : null;
  }

  function counterDelta(older, newer, pick) {
    var d = total(newer, pick) - total(older || {}, pick);
    return d >= 0 ? d : null;
  }

  function byName(list) {
    var out = {};
    (list || []).forEach(function (x) { out[x.name !== undefined ? x.name : x.version] = x; });
    return out;
  }

  /* Rates and quantiles between two snapshots. */
  function interval(a, b) {
    var dt = b.server.time - a.server.time;
    if (!(dt > 0)) return null;
    var latency = histDelta(a.server.latency, b.server.latency);
    var req = counterDelta(a.server.requests, b.server.requests);
    var err = counterDelta(a.server.requests, b.server.requests, isError);
    var out = {
      dt: dt,
      rps: req === null ? null : req / dt,
      eps: err === null ? null : err / dt,
      errorShare: req ? err / req : null,
      p50: quantile(0.5, latency), p99: quantile(0.99, latency),
      models: {},
    };
    var before = byName(a.models);
    b.models.forEach(function (m) {
      var am = before[m.name] || { versions: [] };
      var versions = byName(am.versions);
      var mv = { rps: null, eps: null, versions: {} };
      var r = counterDelta(am.requests, m.requests), e = counterDelta(am.requests, m.requests, isError);
      mv.rps = r === null ? null : r / dt;
      mv.eps = e === null ? null : e / dt;
      m.versions.forEach(function (v) {
        var av = versions[v.version] || {};
        var inf = histDelta(av.inference, v.inference), rows = histDelta(av.batch_rows, v.batch_rows);
        var vr = counterDelta(av.requests, v.requests), ve = counterDelta(av.requests, v.requests, isError);
        var hit = counterDelta(av.cache, v.cache, function (k) { return k === "hit"; });
        var looked = counterDelta(av.cache, v.cache);
        mv.versions[v.version] = {
          rps: vr === null ? null : vr / dt,
          eps: ve === null ? null : ve / dt,
          errorShare: vr ? ve / vr : null,
          p50: quantile(0.5, inf), p99: quantile(0.99, inf),
          rowsPerCall: mean(rows),
          hitRate: looked ? hit / looked : null,
        };
      });
      out.models[m.name] = mv;
    });
    return out;
  }

  // -- history -----------------------------------------------------------------------------

  function record(chart, series, t, value) {
    var c = state.series[chart] || (state.series[chart] = {});
    (c[series] || (c[series] = [])).push([t, ok(value) ? value : null]);
  }

  function trim(now) {
    Object.keys(state.series).forEach(function (chart) {
      var c = state.series[chart];
      Object.keys(c).forEach(function (s) {
        c[s] = c[s].filter(function (p) { return p[0] >= now - HISTORY_S; });
      });
    });
    state.snaps = state.snaps.filter(function (s) { return s.server.time >= now - HISTORY_S; });
  }

  function recordInterval(d, t) {
    record("server-traffic", "all", t, d.rps);
    record("server-traffic", "errors", t, d.eps);
    record("server-latency", "p50", t, d.p50 === null ? null : d.p50 * 1000);
    record("server-latency", "p99", t, d.p99 === null ? null : d.p99 * 1000);
    Object.keys(d.models).forEach(function (name) {
      var m = d.models[name];
      record(name + ":traffic", "errors", t, m.eps);
      Object.keys(m.versions).forEach(function (v) {
        var x = m.versions[v], label = "v" + v;
        record(name + ":traffic", label, t, x.rps);
        record(name + ":latency", label + " p50", t, x.p50 === null ? null : x.p50 * 1000);
        record(name + ":latency", label + " p99", t, x.p99 === null ? null : x.p99 * 1000);
        record(name + ":batch", label, t, x.rowsPerCall);
        record(name + ":cache", label, t, x.hitRate === null ? null : x.hitRate * 100);
      });
    });
  }

  function draw(el, chart, now, yLabel, order) {
    var c = state.series[chart] || {};
    var names = Object.keys(c).sort(function (a, b) {
      return (order ? order(a) - order(b) : 0) || (a < b ? -1 : a > b ? 1 : 0);
    });
    var oldest = now;
    var series = names.map(function (name) {
      return { name: name, points: c[name].map(function (p) { oldest = Math.min(oldest, p[0]); return [p[0] - now, p[1]]; }) };
    });
    // The axis grows by the minute up to HISTORY_S: a young page is not squeezed to the right.
    var span = Math.min(HISTORY_S, Math.max(60, Math.ceil((now - oldest) / 60) * 60));
    window.TabforgeCharts.line(el, {
      series: series, xLabel: "seconds (0 = now)", yLabel: yLabel,
      xDomain: [-span, 0], height: 190,
    });
  }

  // -- the page ----------------------------------------------------------------------------

  function setStatus(kind, text) {
    $("status-dot").className = "dot " + kind;
    $("status-text").textContent = text;
  }

  function tile(label, value, unit, bad) {
    return h("div", { class: "tile" + (bad ? " bad" : "") },
      h("div", { class: "label" }, label),
      h("div", { class: "value" }, value, unit && value !== DASH ? h("small", {}, unit) : null));
  }

  function tileInterval(now) {
    var latest = state.snaps[state.snaps.length - 1];
    var older = state.snaps.filter(function (s) { return s.server.time <= now - TILE_S + 0.5; }).pop() || state.snaps[0];
    return older === latest ? null : interval(older, latest);
  }

  function renderOverview(snap, now) {
    var s = snap.server, d = tileInterval(now);
    var over = d ? "over the last " + Math.round(d.dt) + " s" : "rates need a second refresh";
    fill($("server-name"), "live dashboard \u00b7 tabforge " + s.version + " \u00b7 " + s.workers +
      (s.workers === 1 ? " worker" : " workers"));
    fill($("tiles"), [
      tile("Requests", d ? perSecond(d.rps) : DASH, "/s"),
      tile("Errors", d ? percent(d.errorShare) : DASH, null, d && d.errorShare > 0),
      tile("Latency p50", d ? millis(d.p50) : DASH, "ms"),
      tile("Latency p99", d ? millis(d.p99) : DASH, "ms"),
      tile("In flight", num(s.in_progress, 0)),
      tile("Versions served", num(s.models_loaded, 0)),
      tile("Load failures", num(s.load_failures, 0), null, s.load_failures > 0),
      tile("Requests, total", num(total(s.requests), 0)),
    ]);
    fill($("tiles-note"), "Rates and latency " + over + "; charts: every " + REFRESH_MS / 1000 +
      " s for the last " + HISTORY_S / 60 + " min. Batching up to " + s.max_batch_rows + " rows, " +
      (s.cache_entries ? "response cache " + s.cache_entries + " entries per version" : "response cache off") +
      ", monitoring " + (s.monitor ? "on (" + s.window + " window)" : "off") + ".");
    draw($("chart-server-traffic"), "server-traffic", now, "requests / s");
    draw($("chart-server-latency"), "server-latency", now, "ms");
    var failures = Object.keys(s.failures);
    $("failures").hidden = !failures.length;
    fill($("failures"), failures.length ? [
      h("h2", {}, "Not served"),
      h("ul", {}, failures.map(function (k) { return h("li", {}, h("code", {}, k), ": " + s.failures[k]); })),
    ] : []);
  }

  function card(name) {
    var found = state.cards[name];
    if (found) return found;
    var c = {
      root: h("section", { class: "model", "data-model": name }),
      head: h("div", { class: "model-head" }),
      lines: h("div", { class: "model-lines" }),
      table: h("div", { class: "table-wrap" }),
      charts: {},
      drift: h("div", { class: "drift" }),
    };
    var grid = h("div", { class: "charts four" });
    [["traffic", "Requests per second"], ["latency", "Inference time (ms), p50 and p99"],
      ["batch", "Rows per model call (mean)"], ["cache", "Response cache hit rate (%)"]].forEach(function (x) {
      c.charts[x[0]] = h("div", { class: "chart" });
      grid.appendChild(h("figure", {}, h("figcaption", {}, x[1]), c.charts[x[0]]));
    });
    append(c.root, [c.head, c.lines, c.table, grid, c.drift]);
    $("models").appendChild(c.root);
    state.cards[name] = c;
    return c;
  }

  function renderModels(snap, now) {
    var d = tileInterval(now);
    var names = snap.models.map(function (m) { return m.name; });
    Object.keys(state.cards).forEach(function (name) {
      if (names.indexOf(name) < 0) { state.cards[name].root.remove(); delete state.cards[name]; }
    });
    $("no-models").hidden = names.length > 0 || !snap.server.ready;
    snap.models.forEach(function (m, i) {
      var c = card(m.name);
      $("models").appendChild(c.root); // keeps the server's order
      renderModel(c, m, d ? d.models[m.name] : null, snap.server, now);
    });
  }

  function renderModel(c, m, d, server, now) {
    var aliases = Object.keys(m.aliases).sort().map(function (a) {
      return h("span", { class: "chip", title: "registry alias" }, a + " \u2192 v" + m.aliases[a]);
    });
    var reqs = d ? perSecond(d.rps) + " req/s" : "";
    var tasks = m.versions.map(function (v) { return v.task; }).filter(function (t, i, all) { return all.indexOf(t) === i; });
    fill(c.head, [h("h2", {}, m.name), h("span", { class: "muted" }, tasks.join(", ")),
      h("span", { class: "chip default", title: "what an unversioned request gets without a route" }, "default v" + m.default),
      aliases, h("span", { class: "muted" }, reqs)]);
    fill(c.lines, [routeLine(m), shadowLine(m), feedbackLine(m)]);
    fill(c.table, versionsTable(m, d, server));
    var order = function (s) { return s === "errors" ? 1e9 : 0; };
    draw(c.charts.traffic, m.name + ":traffic", now, "requests / s", order);
    draw(c.charts.latency, m.name + ":latency", now, "ms");
    draw(c.charts.batch, m.name + ":batch", now, "rows");
    if (server.cache_entries) draw(c.charts.cache, m.name + ":cache", now, "% of lookups");
    else fill(c.charts.cache, h("div", { class: "chart-note" }, "response cache off (--cache-entries 0)"));
    fill(c.drift, m.versions.map(function (v) { return driftBlock(m, v, server); }));
  }

  function routeLine(m) {
    if (!m.route.length) {
      return h("div", {}, h("span", { class: "k" }, "route"), "all unversioned traffic to v" + m.default);
    }
    var sum = m.route.reduce(function (a, r) { return a + r.weight; }, 0);
    var bar = h("span", { class: "route-bar" }, m.route.map(function (r, i) {
      var share = r.weight / sum;
      return h("span", { style: { flexGrow: String(r.weight), background: PALETTE[i % PALETTE.length] }, title: "v" + r.version + ": " + percent(share, 0) },
        share >= 0.12 ? "v" + r.version + " " + percent(share, 0) : "");
    }));
    var text = m.route.map(function (r) { return "v" + r.version + " " + percent(r.weight / sum, 0); }).join(" \u00b7 ");
    return h("div", {}, h("span", { class: "k" }, "route"), bar, " ", text);
  }

  function shadowLine(m) {
    var s = m.shadow;
    if (!s) return h("div", {}, h("span", { class: "k" }, "shadow"), "none");
    var yes = s.rows.yes || 0, rows = yes + (s.rows.no || 0);
    var agreement = rows ? percent(yes / rows, 2) + " of " + num(rows, 0) + " rows agree" : "no rows compared yet";
    var diff = quantile(0.99, s.diff);
    return h("div", {},
      h("span", { class: "k" }, "shadow"),
      "v" + s.version + ", " + percent(s.sample, 0) + " of unversioned requests mirrored: ",
      h("strong", {}, agreement),
      " \u00b7 runs: " + num(s.runs.ran || 0, 0) + " ran, " + num(s.runs.dropped || 0, 0) + " dropped, " +
      num(s.runs.failed || 0, 0) + " failed" + (diff !== null ? " \u00b7 p99 largest |difference| \u2264 " + num(diff, 4) : ""));
  }

  function feedbackLine(m) {
    var joined = m.feedback.joined || 0, unknown = m.feedback.unknown || 0;
    if (!joined && !unknown) return null;
    return h("div", {}, h("span", { class: "k" }, "feedback"), num(joined, 0) + " labels joined, " + num(unknown, 0) + " unknown ids");
  }

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

  var HINTS = {
    "Req/s": "requests per second, last " + TILE_S + " s",
    "p50 ms": "inference time per model call, last " + TILE_S + " s",
    "p99 ms": "inference time per model call, last " + TILE_S + " s",
    "Rows/call": "mean rows per model call (dynamic batching), last " + TILE_S + " s",
    "Cache hits": "share of response cache lookups answered from the cache, last " + TILE_S + " s",
    "Rows": "rows predicted since the server started",
  };

  function versionsTable(m, d, server) {
    var head = h("tr", {}, ["Version", "Aliases", "Model", "Created", "Req/s", "Errors", "p50 ms", "p99 ms",
      "Rows/call", "Cache hits", "Rows", "Drift", "Report"].map(function (t, i) {
      return h("th", { class: i >= 4 && i <= 10 ? "num" : null, title: HINTS[t] }, t);
    }));
    var rows = m.versions.map(function (v) {
      var x = d ? d.versions[v.version] : null;
      return h("tr", { "data-version": v.version },
        h("td", {}, h("strong", {}, "v" + v.version), v.default ? h("span", { class: "muted" }, " default") : null),
        h("td", {}, v.aliases.join(", ") || DASH),
        h("td", {}, v.estimator),
        h("td", { title: v.created_at }, v.created_at.slice(0, 16).replace("T", " ")),
        h("td", { class: "num" }, x ? perSecond(x.rps) : DASH),
        h("td", { class: "num" }, x && x.errorShare !== null ? percent(x.errorShare) : DASH),
        h("td", { class: "num" }, x ? millis(x.p50) : DASH),
        h("td", { class: "num" }, x ? millis(x.p99) : DASH),
        h("td", { class: "num" }, x ? num(x.rowsPerCall) : DASH),
        h("td", { class: "num" }, server.cache_entries ? (x ? percent(x.hitRate, 0) : DASH) : "off"),
        h("td", { class: "num" }, num(v.rows, 0)),
        h("td", {}, driftBadge(v, server)),
        h("td", {}, h("a", { href: v.report, target: "_blank", rel: "noopener", class: "report-link", onclick: openReport }, "report")));
    });
    return h("table", { class: "versions" }, h("thead", {}, head), h("tbody", {}, rows));
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

  // -- reports: with a key they are fetched with it and opened from a blob: URL -----------

  function openReport(event) {
    var key = sessionStorage.getItem(KEY);
    if (!key) return; // the plain link works
    event.preventDefault();
    var tab = window.open("", "_blank");
    if (tab) tab.document.title = "loading report\u2026";
    fetch(this.getAttribute("href"), { headers: { Authorization: "Bearer " + key } })
      .then(function (r) {
        if (!r.ok) return r.json().then(function (b) { throw new Error(b.error || r.statusText); });
        return r.blob();
      })
      .then(function (blob) {
        var url = URL.createObjectURL(new Blob([blob], { type: "text/html" }));
        if (tab) tab.location.href = url; else window.location.href = url;
      })
      .catch(function (e) {
        if (tab) tab.close();
        setStatus("stale", "report failed: " + e.message);
      });
  }

  // -- polling -----------------------------------------------------------------------------

  function askForKey(message) {
    $("main").hidden = true;
    $("auth").hidden = false;
    $("auth-message").hidden = !message;
    $("auth-message").textContent = message || "";
    setStatus("stale", "waiting for an API key");
    $("key").focus();
  }

  function schedule(ms) {
    clearTimeout(state.timer);
    state.timer = setTimeout(refresh, ms);
  }

  function refresh() {
    var key = sessionStorage.getItem(KEY);
    $("forget-key").hidden = !key;
    if (needsKey && !key) { askForKey(""); return; }
    var headers = key ? { Authorization: "Bearer " + key } : {};
    var url = "/dashboard.json?window=" + encodeURIComponent($("window").value);
    fetch(url, { headers: headers, cache: "no-store" })
      .then(function (r) {
        if (r.status === 401 || r.status === 403) {
          sessionStorage.removeItem(KEY);
          needsKey = true;
          askForKey(r.status === 403 ? "That key was refused." : "");
          return null;
        }
        if (!r.ok) return r.json().then(function (b) { throw new Error(b.error || r.statusText); });
        return r.json();
      })
      .then(function (snap) {
        if (!snap) return;
        update(snap);
        schedule(REFRESH_MS);
      })
      .catch(function (e) {
        state.failures++;
        setStatus("down", "cannot refresh: " + e.message);
        schedule(Math.min(REFRESH_MS * state.failures, 15000));
      });
  }

  function update(snap) {
    var now = snap.server.time, last = state.snaps[state.snaps.length - 1];
    if (last && now < last.server.time) { state.snaps = []; state.series = {}; last = null; }
    if (last) {
      var d = interval(last, snap);
      if (d) recordInterval(d, now);
    }
    state.snaps.push(snap);
    trim(now);
    state.failures = 0;
    $("auth").hidden = true;
    $("main").hidden = false;
    setStatus(snap.server.ready ? "live" : "stale",
      (snap.server.ready ? "live" : "loading models") + " \u00b7 updated " + new Date(now * 1000).toLocaleTimeString());
    renderOverview(snap, now);
    renderModels(snap, now);
  }

  function start() {
    var saved = sessionStorage.getItem(WINDOW);
    if (saved) $("window").value = saved;
    $("window").addEventListener("change", function () {
      sessionStorage.setItem(WINDOW, $("window").value);
      schedule(0);
    });
    $("auth").addEventListener("submit", function (event) {
      event.preventDefault();
      var key = $("key").value.trim();
      if (!key) return;
      sessionStorage.setItem(KEY, key);
      $("key").value = "";
      setStatus("stale", "checking the key\u2026");
      schedule(0);
    });
    $("forget-key").addEventListener("click", function () {
      sessionStorage.removeItem(KEY);
      state.snaps = []; state.series = {};
      askForKey("");
    });
    refresh();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
