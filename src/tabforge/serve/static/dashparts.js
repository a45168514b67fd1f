/* tabforge dashboard: the page's building blocks, with no page state (window.TabforgeDash):
 * elements built from text only (h, append, fill), numbers as the page shows them, and the
 * math on /dashboard.json's cumulative snapshots (rates, histogram deltas, Prometheus-style
 * quantiles between two snapshots). dashboard.js and dashdrift.js draw with them.
 */
(function () {
  "use strict";

  // -- DOM ---------------------------------------------------------------------------------

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

  // -- numbers ---------------------------------------------------------------------------

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

  window.TabforgeDash = {
    h: h, append: append, fill: fill,
    ok: ok, DASH: DASH, num: num, perSecond: perSecond, millis: millis, percent: percent,
    total: total, quantile: quantile, mean: mean, interval: interval,
  };
})();
