/* tabforge charts: four small SVG charts (line, bars, histogram, heatmap), no dependencies.
 *
 * Shared by the self-contained report (inlined into the HTML) and the server's live
 * dashboard (served as /static/charts.js). Hand-written so a report opens offline, stays
 * small and can be read in one sitting. Every call replaces the element's content with one
 * <svg class="tf-chart" data-points="N">, N = data points drawn (0 draws a "no data" note),
 * so a test can tell that data rendered. Null values are skipped, never thrown on.
 * Text goes through textContent only: column names from user files cannot inject markup.
 */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  // Okabe-Ito: distinguishable under the common colour-vision deficiencies.
  var PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442"];
  // Viridis stops for the heatmap: perceptually even, readable in greyscale.
  var VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  var FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";

  function ok(v) { return typeof v === "number" && isFinite(v); }

  function node(tag, attrs, parent, text) {
    var n = document.createElementNS(NS, tag);
    for (var k in attrs) { if (attrs[k] !== undefined && attrs[k] !== null) n.setAttribute(k, attrs[k]); }
    if (text !== undefined) n.textContent = String(text);
    if (parent) parent.appendChild(n);
    return n;
  }

  function tip(mark, text) { node("title", {}, mark, text); return mark; }

  /* 4 significant digits, no trailing zeros, exponent only for very large/small magnitudes. */
  function fmt(v) {
    if (!ok(v)) return "\u2013";
    if (v === 0) return "0";
    var a = Math.abs(v);
    if (a >= 1e6 || a < 1e-4) return v.toExponential(2).replace(/\.?0+e/, "e");
    return String(parseFloat(v.toPrecision(4)));
  }

  /* At most n characters, cut in the middle: names often share a prefix and differ at the end. */
  function short(s, n) {
    s = String(s);
    if (s.length <= n) return s;
    var tail = Math.floor((n - 1) / 3);
    return s.slice(0, n - 1 - tail) + "\u2026" + s.slice(s.length - tail);
  }

  /* Round tick values covering [lo, hi]. */
  function ticks(lo, hi, count) {
    if (!(hi > lo)) return [lo];
    var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / count)));
    var err = (hi - lo) / count / step;
    step *= err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1;
    var out = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
    return out;
  }

  function extent(values, pad) {
    var lo = Infinity, hi = -Infinity;
    values.forEach(function (v) { if (ok(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } });
    if (lo === Infinity) return [0, 1];
    if (lo === hi) { lo -= 0.5; hi += 0.5; }
    var p = (hi - lo) * (pad || 0);
    return [lo - p, hi + p];
  }

  function scale(d0, d1, r0, r1) {
    return function (v) { return r0 + (v - d0) / (d1 - d0 || 1) * (r1 - r0); };
  }

  /* The drawing's width: the element's, or a default while it is not laid out. */
  function widthOf(el) { return Math.max(el.clientWidth || 560, 320); }

  /* A fresh <svg> in el with its plot frame; opts.left/bottom widen the margins for labels. */
  function frame(el, opts, extra) {
    while (el.firstChild) el.removeChild(el.firstChild);
    var w = widthOf(el);
    var h = opts.height || 300;
    var m = { top: extra.top || 14, right: 16, bottom: extra.bottom || 46, left: extra.left || 58 };
    var svg = node("svg", {
      "class": "tf-chart", viewBox: "0 0 " + w + " " + h, width: "100%", height: h,
      role: "img", "font-family": FONT, "font-size": 11, "data-points": 0,
    }, el);
    return { svg: svg, w: w, h: h, m: m, x0: m.left, x1: w - m.right, y0: h - m.bottom, y1: m.top };
  }

  function axisLabels(f, xLabel, yLabel) {
    if (xLabel) node("text", { x: (f.x0 + f.x1) / 2, y: f.h - 6, "text-anchor": "middle", fill: "#333" }, f.svg, xLabel);
    if (yLabel) {
      node("text", {
        x: 0, y: 0, "text-anchor": "middle", fill: "#333",
        transform: "translate(12," + (f.y0 + f.y1) / 2 + ") rotate(-90)",
      }, f.svg, yLabel);
    }
  }

  function xAxis(f, sx, values, labels) {
    var g = node("g", { "class": "tf-axis", fill: "#555" }, f.svg);
    node("line", { x1: f.x0, x2: f.x1, y1: f.y0, y2: f.y0, stroke: "#999" }, g);
    values.forEach(function (t, i) {
      var x = sx(t);
      node("line", { x1: x, x2: x, y1: f.y0, y2: f.y0 + 4, stroke: "#999" }, g);
      node("text", { x: x, y: f.y0 + 16, "text-anchor": "middle" }, g, labels ? labels[i] : fmt(t));
    });
  }

  function yAxis(f, sy, values, labels, grid) {
    var g = node("g", { "class": "tf-axis", fill: "#555" }, f.svg);
    node("line", { x1: f.x0, x2: f.x0, y1: f.y0, y2: f.y1, stroke: "#999" }, g);
    values.forEach(function (t, i) {
      var y = sy(t);
      if (grid) node("line", { x1: f.x0, x2: f.x1, y1: y, y2: y, stroke: "#eee" }, g);
      node("text", { x: f.x0 - 6, y: y + 4, "text-anchor": "end" }, g, labels ? labels[i] : fmt(t));
    });
  }

  function noData(f) {
    node("text", { x: f.w / 2, y: f.h / 2, "text-anchor": "middle", fill: "#888", "font-size": 13 }, f.svg, "no data");
    f.svg.setAttribute("data-points", 0);
    return f.svg;
  }

  /* One swatch and name per series, in rows above the plot (frame reserved the room). */
  function legend(f, names) {
    if (names.length < 2) return;
    var x = f.x0, y = 14;
    names.forEach(function (name, i) {
      var label = short(name, 32), w = 30 + label.length * 6.2;
      if (x + w > f.x1 && x > f.x0) { x = f.x0; y += 16; }
      node("rect", { x: x, y: y - 5, width: 14, height: 4, fill: PALETTE[i % PALETTE.length] }, f.svg);
      tip(node("text", { x: x + 18, y: y, fill: "#333" }, f.svg, label), name);
      x += w;
    });
  }

  /* Legend rows needed for these names at this width (as legend() lays them out). */
  function legendRows(names, width) {
    if (names.length < 2) return 0;
    var rows = 1, x = 0;
    names.forEach(function (name) {
      var w = 30 + short(name, 32).length * 6.2;
      if (x + w > width && x > 0) { rows++; x = 0; }
      x += w;
    });
    return rows;
  }

  function line(el, opts) {
    opts = opts || {};
    var series = (opts.series || []).map(function (s) {
      return { name: s.name || "", points: (s.points || []).filter(function (p) { return p && ok(p[0]) && ok(p[1]); }) };
    });
    var xs = [], ys = [];
    series.forEach(function (s) { s.points.forEach(function (p) { xs.push(p[0]); ys.push(p[1]); }); });
    var names = series.map(function (s) { return s.name; });
    var width = widthOf(el) - 74;
    var f = frame(el, opts, { top: 14 + 16 * legendRows(names, width) });
    axisLabels(f, opts.xLabel, opts.yLabel);
    if (!xs.length) return noData(f);
    var dx = opts.xDomain || extent(xs, 0), dy = opts.yDomain || extent(ys, 0.05);
    var sx = scale(dx[0], dx[1], f.x0, f.x1), sy = scale(dy[0], dy[1], f.y0, f.y1);
    yAxis(f, sy, ticks(dy[0], dy[1], 5), null, true);
    xAxis(f, sx, ticks(dx[0], dx[1], Math.max(3, Math.floor((f.x1 - f.x0) / 70))));
    if (opts.diagonal) {
      var lo = Math.max(dx[0], dy[0]), hi = Math.min(dx[1], dy[1]);
      node("line", { x1: sx(lo), y1: sy(lo), x2: sx(hi), y2: sy(hi), stroke: "#aaa", "stroke-dasharray": "4 4" }, f.svg);
    }
    series.forEach(function (s, i) {
      var colour = PALETTE[i % PALETTE.length];
      var g = node("g", { "class": "tf-series" }, f.svg);
      var d = s.points.map(function (p, j) { return (j ? "L" : "M") + sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1); }).join("");
      if (d) tip(node("path", { d: d, fill: "none", stroke: colour, "stroke-width": 2 }, g), s.name);
      var few = s.points.length <= 40;
      s.points.forEach(function (p) {
        tip(node("circle", { cx: sx(p[0]).toFixed(1), cy: sy(p[1]).toFixed(1), r: few ? 3 : 2.5, fill: colour, "fill-opacity": few ? 1 : 0 }, g),
          (s.name ? s.name + ": " : "") + fmt(p[0]) + ", " + fmt(p[1]));
      });
    });
    legend(f, names);
    f.svg.setAttribute("data-points", xs.length);
    return f.svg;
  }

  function bars(el, opts) {
    opts = opts || {};
    var labels = (opts.labels || []).map(String), values = opts.values || [], errors = opts.errors || [];
    var n = labels.length, drawn = 0;
    var widest = labels.reduce(function (a, s) { return Math.max(a, Math.min(s.length, 24)); }, 0);
    var horizontal = !!opts.horizontal;
    if (horizontal && !opts.height) opts = Object.assign({}, opts, { height: Math.max(120, 60 + 20 * n) });
    var f = frame(el, opts, horizontal ? { left: 24 + widest * 6.3 } : { bottom: n > 6 ? 28 + Math.min(widest, 16) * 5 : 46 });
    axisLabels(f, opts.xLabel, opts.yLabel);
    var all = [0];
    values.forEach(function (v, i) { if (ok(v)) { all.push(v); if (ok(errors[i])) { all.push(v + errors[i], v - errors[i]); } } });
    if (!values.some(ok)) return noData(f);
    var dv = extent(all, 0.05);
    if (dv[0] > 0) dv[0] = 0;
    var band = ((horizontal ? f.y0 - f.y1 : f.x1 - f.x0) / Math.max(n, 1));
    var vs = horizontal ? scale(dv[0], dv[1], f.x0, f.x1) : scale(dv[0], dv[1], f.y0, f.y1);
    var vt = ticks(dv[0], dv[1], horizontal ? 5 : 5);
    if (horizontal) xAxis(f, vs, vt); else yAxis(f, vs, vt, null, true);
    var g = node("g", { "class": "tf-bars" }, f.svg);
    labels.forEach(function (label, i) {
      var c = (horizontal ? f.y1 : f.x0) + band * (i + 0.5), thick = Math.max(1, band * 0.7);
      var lbl = horizontal
        ? node("text", { x: f.x0 - 6, y: c + 4, "text-anchor": "end", fill: "#555" }, g, short(label, 24))
        : node("text", n > 6
          ? { x: 0, y: 0, "text-anchor": "end", fill: "#555", transform: "translate(" + c + "," + (f.y0 + 10) + ") rotate(-40)" }
          : { x: c, y: f.y0 + 16, "text-anchor": "middle", fill: "#555" }, g, short(label, n > 6 ? 16 : 14));
      tip(lbl, label);
      var v = values[i];
      if (!ok(v)) return;
      drawn++;
      var a = vs(0), b = vs(v), e = errors[i];
      var rect = horizontal
        ? { x: Math.min(a, b), y: c - thick / 2, width: Math.max(1, Math.abs(b - a)), height: thick }
        : { x: c - thick / 2, y: Math.min(a, b), width: thick, height: Math.max(1, Math.abs(b - a)) };
      rect.fill = v < 0 ? PALETTE[5] : PALETTE[0];
      tip(node("rect", rect, g), label + ": " + fmt(v) + (ok(e) ? " \u00b1 " + fmt(e) : ""));
      if (ok(e) && e > 0) {
        var p = vs(v - e), q = vs(v + e);
        node("line", horizontal ? { x1: p, x2: q, y1: c, y2: c } : { x1: c, x2: c, y1: p, y2: q }, g).setAttribute("stroke", "#333");
      }
    });
    if (horizontal) node("line", { x1: vs(0), x2: vs(0), y1: f.y0, y2: f.y1, stroke: "#999" }, f.svg);
    else node("line", { x1: f.x0, x2: f.x1, y1: vs(0), y2: vs(0), stroke: "#999" }, f.svg);
    f.svg.setAttribute("data-points", drawn);
    return f.svg;
  }

  function histogram(el, opts) {
    opts = opts || {};
    var edges = opts.edges || [], counts = opts.counts || [];
    var f = frame(el, opts, {});
    axisLabels(f, opts.xLabel, opts.yLabel);
    var n = Math.min(counts.length, edges.length - 1), drawn = 0;
    if (n < 1 || !edges.slice(0, n + 1).every(ok) || !counts.some(ok)) return noData(f);
    var dx = [edges[0], edges[n]], top = extent(counts.concat([0]), 0.05)[1];
    if (!(dx[1] > dx[0])) dx = [dx[0] - 0.5, dx[0] + 0.5];
    var sx = scale(dx[0], dx[1], f.x0, f.x1), sy = scale(0, top, f.y0, f.y1);
    yAxis(f, sy, ticks(0, top, 5), null, true);
    xAxis(f, sx, ticks(dx[0], dx[1], Math.max(3, Math.floor((f.x1 - f.x0) / 70))));
    var g = node("g", { "class": "tf-bars" }, f.svg);
    for (var i = 0; i < n; i++) {
      var c = counts[i];
      if (!ok(c)) continue;
      drawn++;
      var x = sx(edges[i]), w = Math.max(1, sx(edges[i + 1]) - x - 1);
      tip(node("rect", { x: x, y: sy(c), width: w, height: Math.max(0, f.y0 - sy(c)), fill: PALETTE[0] }, g),
        "[" + fmt(edges[i]) + ", " + fmt(edges[i + 1]) + "): " + fmt(c));
    }
    f.svg.setAttribute("data-points", drawn);
    return f.svg;
  }

  function colour(t) {
    t = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
    var i = Math.min(Math.floor(t), VIRIDIS.length - 2), u = t - i;
    var c = VIRIDIS[i].map(function (a, k) { return Math.round(a + (VIRIDIS[i + 1][k] - a) * u); });
    return { fill: "rgb(" + c.join(",") + ")", dark: 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] < 140 };
  }

  function heatmap(el, opts) {
    opts = opts || {};
    var rows = (opts.rows || []).map(String), cols = (opts.cols || []).map(String), values = opts.values || [];
    var widest = rows.reduce(function (a, s) { return Math.max(a, Math.min(s.length, 18)); }, 0);
    var colWide = cols.reduce(function (a, s) { return Math.max(a, Math.min(s.length, 14)); }, 0);
    var slant = (widthOf(el) - 46 - widest * 6.3) / Math.max(cols.length, 1) < colWide * 6.5 + 10;
    var f = frame(el, opts, { left: 30 + widest * 6.3, bottom: slant ? 30 + colWide * 5 : 46 });
    axisLabels(f, opts.xLabel, opts.yLabel);
    var flat = [];
    values.forEach(function (r) { (r || []).forEach(function (v) { if (ok(v)) flat.push(v); }); });
    if (!rows.length || !cols.length || !flat.length) return noData(f);
    var lo = Math.min.apply(null, flat.concat([0])), hi = Math.max.apply(null, flat);
    var cw = (f.x1 - f.x0) / cols.length, ch = (f.y0 - f.y1) / rows.length, drawn = 0;
    var g = node("g", { "class": "tf-cells" }, f.svg);
    // Values go inside the cells only when the widest of them fits every cell (about 6.6 px
    // a character at 11 px): half a card of 14 columns left them running into each other.
    var longest = flat.reduce(function (a, v) { return Math.max(a, fmt(v).length); }, 0);
    var label = cw >= longest * 6.6 + 6 && ch > 14;
    var rowEvery = Math.ceil(rows.length / Math.max(1, Math.floor((f.y0 - f.y1) / 14)));
    rows.forEach(function (r, i) {
      var y = f.y1 + ch * i;
      if (i % rowEvery === 0) tip(node("text", { x: f.x0 - 6, y: y + ch / 2 + 4, "text-anchor": "end", fill: "#555" }, g, short(r, 18)), r);
      cols.forEach(function (c, j) {
        var v = (values[i] || [])[j];
        if (!ok(v)) return;
        drawn++;
        var col = colour(hi > lo ? (v - lo) / (hi - lo) : 0.5), x = f.x0 + cw * j;
        tip(node("rect", { x: x, y: y, width: Math.max(cw - 1, 0.5), height: Math.max(ch - 1, 0.5), fill: col.fill }, g),
          r + " \u2192 " + c + ": " + fmt(v));
        if (label) node("text", { x: x + cw / 2, y: y + ch / 2 + 4, "text-anchor": "middle", fill: col.dark ? "#fff" : "#111", "pointer-events": "none" }, g, fmt(v));
      });
    });
    // Slanted at 40 degrees, labels 20 px apart sit 13 px apart across: one line of 11 px text.
    var every = Math.ceil(cols.length / Math.max(1, Math.floor((f.x1 - f.x0) / (slant ? 20 : 60))));
    cols.forEach(function (c, j) {
      if (j % every) return;
      var x = f.x0 + cw * (j + 0.5);
      tip(node("text", slant
        ? { x: 0, y: 0, "text-anchor": "end", fill: "#555", transform: "translate(" + x + "," + (f.y0 + 10) + ") rotate(-40)" }
        : { x: x, y: f.y0 + 16, "text-anchor": "middle", fill: "#555" }, g, short(c, 14)), c);
    });
    f.svg.setAttribute("data-points", drawn);
    return f.svg;
  }

  window.TabforgeCharts = { line: line, bars: bars, histogram: histogram, heatmap: heatmap, palette: PALETTE, format: fmt };
})();
