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

  // -- building blocks (dashparts.js) and drift (dashdrift.js) ----------------------------

  function $(id) { return document.getElementById(id); }
  var D = window.TabforgeDash;
  var h = D.h, append = D.append, fill = D.fill;
  var ok = D.ok, DASH = D.DASH, num = D.num, perSecond = D.perSecond, millis = D.millis;
  var percent = D.percent, total = D.total, quantile = D.quantile, mean = D.mean;
  var interval = D.interval;
  var driftBadge = window.TabforgeDashDrift.badge, driftBlock = window.TabforgeDashDrift.block;

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
