// report.html's timeline: draws roles, faults, split brain, failovers and lost writes into SVG
// (in a Redis Cluster also its shards and replica elections), redrawn for the visible range
// (wheel or buttons zoom, drag pans, hover shows details).
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var COLORS = ["#a0a0a0", "#285ac8", "#3caa5a", "#f0a028"];
  var STATES = ["down or paused", "primary", "replica in sync", "replica out of sync"];
  var W = 1340, LEFT = 120, RIGHT = 20, ROW = 34, TOP = 24;
  function fail(e) { document.body.dataset.error = String((e && (e.stack || e.message)) || e); }
  window.addEventListener("error", function (e) { fail(e.error || e.message); });
  function el(parent, name, attrs, tip) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (tip) e.setAttribute("data-tip", tip);
    parent.appendChild(e);
    return e;
  }
  function text(parent, x, y, s, cls) {
    var t = el(parent, "text", { x: x, y: y, "class": cls || "axis" });
    t.textContent = s;
    return t;
  }
  function fmt(s) { return s.toFixed(s < 10 ? 3 : 1) + " s"; }
  function lanes(faults) {
    var ends = [];
    return faults.map(function (f) {
      for (var i = 0; i < ends.length; i++) if (ends[i] <= f.start) break;
      ends[i] = f.end;
      return i;
    });
  }
  function init() {
    var ns = document.getElementById("noscript");
    if (ns) ns.remove();
    var D = JSON.parse(document.getElementById("simkv-data").textContent);
    var view = { a: 0, b: Math.max(D.end_s, 1) };
    // "#t=A,B" in the address opens the timeline on seconds A to B.
    var m = /^#t=([0-9.]+),([0-9.]+)$/.exec(location.hash);
    if (m && +m[2] > +m[1]) { view.a = Math.max(0, +m[1]); view.b = Math.min(+m[2], Math.max(D.end_s, 1)); }
    var lane = lanes(D.faults);
    var nLanes = Math.max(1, lane.reduce(function (m, l) { return Math.max(m, l + 1); }, 0));
    var H = TOP + nLanes * 22 + ROW * (1 + D.servers.length) + 40;
    var box = document.getElementById("timeline");
    var tp = document.getElementById("throughput");
    function x(t) { return LEFT + (t - view.a) / (view.b - view.a) * (W - LEFT - RIGHT); }
    function visible(s, e) { return e >= view.a && s <= view.b; }
    function clampX(t) { return Math.max(LEFT, Math.min(W - RIGHT, x(t))); }
    function axis(svg, y0, y1) {
      var span = view.b - view.a, step = Math.pow(10, Math.floor(Math.log10(span / 5)));
      if (span / step > 12) step *= 2;
      if (span / step > 12) step *= 2.5;
      for (var t = Math.ceil(view.a / step) * step; t <= view.b; t += step) {
        el(svg, "line", { x1: x(t), x2: x(t), y1: y0, y2: y1, stroke: "#eee" });
        text(svg, x(t) - 10, y1 + 14, +t.toFixed(3) + "s");
      }
    }
    function band(svg, s, e, y, h, cls, tip, label) {
      var x0 = clampX(s), x1 = clampX(e);
      var r = el(svg, "rect", { x: x0, y: y, width: Math.max(2, x1 - x0), height: h, "class": cls }, tip);
      var room = Math.floor((x1 - x0 - 6) / 6.2);
      if (label && room >= 3) text(svg, x0 + 3, y + h - 5, label.length > room ? label.slice(0, room - 1) + "\u2026" : label, "band-label");
      return r;
    }
    function drawTimeline() {
      box.textContent = "";
      var svg = el(box, "svg", { id: "timeline-svg", width: W, height: H, viewBox: "0 0 " + W + " " + H });
      axis(svg, TOP, H - 40);
      var y = TOP;
      text(svg, 8, y + 15, "faults", "row-label");
      D.faults.forEach(function (f, i) {
        if (!visible(f.start, f.end)) return;
        var tip = "fault #" + f.id + ": " + f.label + "\n" + fmt(f.start) + " to " + (f.open ? "end (never healed)" : fmt(f.end));
        var r = band(svg, f.start, f.end, y + lane[i] * 22, 18, "fault-band", tip, "#" + f.id + " " + f.label);
        r.setAttribute("data-fault-id", f.id);
      });
      y += nLanes * 22 + 6;
      text(svg, 8, y + 15, "split brain", "row-label");
      D.split.forEach(function (s) {
        if (!visible(s[0], s[1])) return;
        band(svg, s[0], s[1], y, 20, "split-band", "split brain: " + s[2].join(" and ") + " primary at once\n" + fmt(s[0]) + " to " + fmt(s[1]), "split brain");
      });
      y += ROW;
      var rowY = [];
      var shardOf = {};
      (D.shards || []).forEach(function (s, k) { s.rows.forEach(function (r) { shardOf[r] = k; }); });
      D.servers.forEach(function (name, si) {
        rowY.push(y);
        var sh = D.shards && D.shards[shardOf[si]];
        if (sh && sh.rows[0] === si) {
          el(svg, "line", { x1: 4, x2: W - RIGHT, y1: y - 4, y2: y - 4, "class": "shard-separator" }, sh.label);
          // "shard of c1p" in the names' column; the slots in its tip.
          var lbl = text(svg, 8, y - 6, sh.label.split(":")[0], "shard-label");
          lbl.setAttribute("data-tip", sh.label);
        }
        text(svg, 8, y + 17, name, "row-label");
        D.roles[si].forEach(function (r) {
          if (!visible(r[0], r[1])) return;
          band(svg, r[0], r[1], y, 24, "role role-" + r[2], name + ": " + STATES[r[2]] + "\n" + fmt(r[0]) + " to " + fmt(r[1])).setAttribute("fill", COLORS[r[2]]);
        });
        y += ROW;
      });
      drawLost(svg, rowY);
      (D.elections || []).forEach(function (e) {
        if (!visible(e.start, e.end)) return;
        var who = D.servers[e.row];
        var tip = "election for epoch " + e.epoch + " by " + who + ": " + (e.won ? "won" : "not won") + " with " + e.votes + " vote" + (e.votes === 1 ? "" : "s") + "\n" + fmt(e.start) + " to " + fmt(e.end);
        var x0 = clampX(e.start), x1 = clampX(e.end);
        el(svg, "rect", { x: x0 - 3, y: rowY[e.row] + 24, width: Math.max(6, x1 - x0 + 3), height: 6, "class": "election " + (e.won ? "election-won" : "election-lost") }, tip);
      });
      // The operator's actions (never Sentinel's): a blue diamond on the server's row.
      (D.operator || []).forEach(function (o) {
        if (o[1] < 0 || !visible(o[0], o[0])) return;
        var cx = x(o[0]), cy = rowY[o[1]] + 12;
        el(svg, "polygon", { points: [cx, cy - 8, cx + 7, cy, cx, cy + 8, cx - 7, cy].join(" "), "class": "operator-mark" }, "operator at " + fmt(o[0]) + ": " + o[2]);
      });
      if (D.quiet_s > 0 && visible(D.quiet_s, D.quiet_s)) {
        el(svg, "line", { x1: x(D.quiet_s), x2: x(D.quiet_s), y1: TOP, y2: y, stroke: "#888", "stroke-dasharray": "2 4", "class": "quiet-marker" }, "quiet phase from " + fmt(D.quiet_s) + ": every fault healed, no new ones");
        text(svg, x(D.quiet_s) + 4, TOP - 6, "quiet");
      }
      D.failovers.forEach(function (f) {
        if (!visible(f[0], f[0])) return;
        el(svg, "line", { x1: x(f[0]), x2: x(f[0]), y1: TOP, y2: y, "class": "failover-marker" }, "failover: " + f[1] + " promoted at " + fmt(f[0]));
        el(svg, "rect", { x: x(f[0]) - 6, y: y - 4, width: 12, height: 12, fill: "#111", "class": "failover-handle" }, "failover: " + f[1] + " promoted at " + fmt(f[0]));
        text(svg, x(f[0]) + 8, y + 7, "\u2192 " + f[1]);
      });
      var range = document.getElementById("range");
      range.textContent = fmt(view.a) + " \u2013 " + fmt(view.b);
      range.dataset.from = view.a; range.dataset.to = view.b;
    }
    function drawLost(svg, rowY) {
      // One mark per two pixel columns and server (the count of writes acknowledged there),
      // across the row's top edge so that the role stays visible.
      var buckets = {};
      var per = (view.b - view.a) / (W - LEFT - RIGHT);
      D.lost.forEach(function (l) {
        if (l[1] < 0 || l[0] < view.a || l[0] > view.b) return;
        var key = l[1] + ":" + Math.floor((l[0] - view.a) / per / 2);
        var b = buckets[key] || (buckets[key] = { row: l[1], first: l[0], last: l[0], n: 0 });
        b.n++; b.first = Math.min(b.first, l[0]); b.last = Math.max(b.last, l[0]);
      });
      Object.keys(buckets).forEach(function (k) {
        var b = buckets[k], y = rowY[b.row];
        var tip = b.n + " lost write" + (b.n > 1 ? "s" : "") + " acknowledged by " + D.servers[b.row] + "\n" + (b.n > 1 ? fmt(b.first) + " to " + fmt(b.last) : "at " + fmt(b.first));
        var m = el(svg, "line", { x1: x(b.first), x2: x(b.first), y1: y - 6, y2: y + 7, "class": "lost-mark" }, tip);
        m.setAttribute("data-count", b.n);
      });
    }
    function drawThroughput() {
      tp.textContent = "";
      var h = 220, svg = el(tp, "svg", { id: "throughput-svg", width: W, height: h, viewBox: "0 0 " + W + " " + h });
      var names = ["ok", "fail", "info"], colors = ["#3caa5a", "#c0392b", "#f0a028"];
      var a = Math.max(0, Math.floor(view.a)), b = Math.min(D.throughput[0].length, Math.ceil(view.b));
      var top = 1;
      for (var k = 0; k < 3; k++) for (var i = a; i < b; i++) top = Math.max(top, D.throughput[k][i]);
      axis(svg, 10, h - 30);
      for (k = 0; k < 3; k++) {
        var pts = [];
        for (i = a; i < b; i++) pts.push(clampX(i + 0.5) + "," + (h - 30 - D.throughput[k][i] / top * (h - 50)));
        el(svg, "polyline", { points: pts.join(" "), fill: "none", stroke: colors[k], "stroke-width": 1.5, "class": "throughput-" + names[k] });
        text(svg, 8, 24 + k * 16, names[k] + " /s", "row-label").setAttribute("fill", colors[k]);
      }
      text(svg, 8, h - 34, "max " + top + "/s");
    }
    function draw() { drawTimeline(); drawThroughput(); }
    function zoom(f, at) {
      var span = view.b - view.a, c = at === undefined ? view.a + span / 2 : at;
      var n = Math.min(Math.max(span * f, 0.01), D.end_s || 1);
      var a = c - (c - view.a) * n / span;
      a = Math.max(0, Math.min(a, Math.max(D.end_s, 1) - n));
      view.a = a; view.b = a + n; draw();
    }
    function timeAt(ev) {
      var r = ev.currentTarget.getBoundingClientRect();
      return view.a + (ev.clientX - r.left - LEFT) / (W - LEFT - RIGHT) * (view.b - view.a);
    }
    box.addEventListener("wheel", function (ev) { ev.preventDefault(); zoom(ev.deltaY < 0 ? 0.8 : 1.25, timeAt(ev)); }, { passive: false });
    var drag = null;
    box.addEventListener("mousedown", function (ev) { drag = { x: ev.clientX, a: view.a, b: view.b }; });
    window.addEventListener("mouseup", function () { drag = null; });
    window.addEventListener("mousemove", function (ev) {
      if (!drag) return;
      var dt = (drag.x - ev.clientX) / (W - LEFT - RIGHT) * (drag.b - drag.a);
      dt = Math.max(-drag.a, Math.min(dt, Math.max(D.end_s, 1) - drag.b));
      view.a = drag.a + dt; view.b = drag.b + dt; draw();
    });
    document.getElementById("zoom-in").onclick = function () { zoom(0.5); };
    document.getElementById("zoom-out").onclick = function () { zoom(2); };
    document.getElementById("zoom-reset").onclick = function () { view.a = 0; view.b = Math.max(D.end_s, 1); draw(); };
    var tip = document.getElementById("tip");
    document.addEventListener("mouseover", function (ev) {
      var t = ev.target.getAttribute && ev.target.getAttribute("data-tip");
      if (!t) { tip.hidden = true; return; }
      tip.textContent = t; tip.hidden = false;
      tip.style.left = ev.clientX + 12 + "px"; tip.style.top = ev.clientY + 12 + "px";
    });
    var legend = document.getElementById("legend");
    STATES.forEach(function (s, i) { legend.insertAdjacentHTML("beforeend", '<span><i style="background:' + COLORS[i] + '"></i>' + s + "</span>"); });
    var keys = [["fault", "#dc3c3c"], ["split brain", "#8e44ad"], ["lost write (acknowledged)", "#e0115f"], ["failover (promotion)", "#111"]];
    if ((D.elections || []).length) keys.push(["election won", "#1a7f37"], ["election not won", "#c0392b"]);
    if ((D.operator || []).length) keys.push(["operator action", "#1f6feb"]);
    keys.forEach(function (p) {
      legend.insertAdjacentHTML("beforeend", '<span><i style="background:' + p[1] + '"></i>' + p[0] + "</span>");
    });
    draw();
  }
  try { init(); document.body.dataset.ready = "1"; } catch (e) { fail(e); }
})();
