/* splitbrain report: the timeline, latency and throughput charts, drawn on canvases from the
 * JSON in #sb-data. Everything that came from the system under test is drawn with fillText or
 * set with textContent, never parsed as HTML, so a value like <script> is shown, not run.
 * All charts share one time window: paging or zooming the timeline moves them all. */
(function () {
  'use strict';
  var T0 = performance.now();
  var D = JSON.parse(document.getElementById('sb-data').textContent);
  var O = D.ops, N = O.s.length, TEND = Math.max(D.t_end, 1);
  var TYPE_NAMES = ['ok', 'fail', 'info', 'no completion'];
  var TYPE_COLORS = ['#6cc070', '#607d8b', '#f2a93b', '#b0b0b0'];
  var LEFT = 96, AXIS = 22, MINWIN = 1000; // px, px, microseconds
  var LABEL_ROWS = 3; // rows of anomaly labels under the axis

  // -- derived arrays ---------------------------------------------------------------------------
  var E = new Float64Array(N), maxDur = 0;
  for (var i = 0; i < N; i++) {
    E[i] = O.e[i] < 0 ? TEND : O.e[i];
    if (E[i] - O.s[i] > maxDur) maxDur = E[i] - O.s[i];
  }
  var NEM = D.procs.indexOf('nemesis'), LANE = D.lanes;
  var procRank = D.procs.map(function (p, k) { return k; });
  procRank.sort(function (a, b) { return procKey(a) - procKey(b); });
  var rankOf = new Int32Array(D.procs.length);
  procRank.forEach(function (p, r) { rankOf[p] = r; });
  function procKey(k) {
    var p = D.procs[k];
    if (k === NEM) return -1e15;
    var n = Number(p);
    return isFinite(n) ? n : 1e15 + k;
  }
  // which f are client functions (the nemesis' own f are not charted as latency / throughput)
  var clientF = [];
  for (i = 0; i < N; i++) if (O.p[i] !== NEM) clientF[O.f[i]] = true;

  var view = { t0: 0, t1: TEND };
  var highlight = null, picked = -1, layout = null;
  function allAnomalies() {  // every op of every anomaly is outlined, unless one is picked
    if (!D.anomalies.length) return null;
    var h = {};
    D.anomalies.forEach(function (a) { a.ops.forEach(function (j) { h[j] = true; }); });
    return h;
  }
  highlight = allAnomalies();

  // -- helpers ----------------------------------------------------------------------------------
  function $(id) { return document.getElementById(id); }
  function clamp(v, a, b) { return Math.max(a, Math.min(b, v)); }
  function lowerBound(arr, v) {
    var lo = 0, hi = arr.length;
    while (lo < hi) { var m = (lo + hi) >> 1; if (arr[m] < v) lo = m + 1; else hi = m; }
    return lo;
  }
  function visible() {
    var out = [], t0 = view.t0, t1 = view.t1;
    for (var j = lowerBound(O.s, t0 - maxDur); j < N && O.s[j] <= t1; j++) {
      if (E[j] >= t0) out.push(j);
    }
    return out;
  }
  function secs(us, step) {
    var d = step >= 1e6 ? 0 : step >= 1e5 ? 1 : step >= 1e4 ? 2 : 3;
    return (us / 1e6).toFixed(d) + ' s';
  }
  function niceStep(span, n) {
    var raw = span / Math.max(n, 1), p = Math.pow(10, Math.floor(Math.log10(raw)));
    var m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
  }
  function setupCanvas(c, h) {
    var w = c.parentNode.clientWidth || 800, r = window.devicePixelRatio || 1;
    c.width = Math.round(w * r); c.height = Math.round(h * r);
    c.style.height = h + 'px';
    var g = c.getContext('2d');
    g.setTransform(r, 0, 0, r, 0, 0);
    g.clearRect(0, 0, w, h);
    return { g: g, w: w, h: h };
  }
  function xOf(t, w) { return LEFT + (t - view.t0) / (view.t1 - view.t0) * (w - LEFT - 8); }
  function tOf(x, w) { return view.t0 + (x - LEFT) / (w - LEFT - 8) * (view.t1 - view.t0); }
  function drawBands(g, w, top, bottom, labels) {
    var ends = [];  // per row of labels, where the last one written ends
    D.bands.forEach(function (b) {
      if (b.e < view.t0 || b.s > view.t1) return;
      var xa = Math.max(xOf(b.s, w), LEFT), xb = Math.min(xOf(b.e, w), w - 8);
      // each band has its fault kind's colour (from the registry), drawn at half its opacity
      // so the operations over it stay legible, and its label in a darker ink of it
      g.save();
      g.globalAlpha = 0.5;
      g.fillStyle = '#888';
      g.fillStyle = b.color;  // a colour the canvas cannot read leaves the grey
      g.fillRect(xa, top, Math.max(xb - xa, 1), bottom - top);
      g.restore();
      if (labels) {
        // the whole label, never cut to its band: in the first of two rows where it does not
        // run into the one before it, on a pale ground so the operations under it do not
        // hide it (a band too short for its words in either row gets none)
        g.save();
        g.font = '600 11px system-ui, sans-serif';
        var text = b.label + (b.open ? ' (never healed)' : '');
        var tw = g.measureText(text).width, x = Math.min(xa + 3, w - 8 - tw);
        for (var r = 0; r < 2; r++) {
          if (ends[r] === undefined || x > ends[r] + 6) {
            ends[r] = x + tw;
            var y = top + 11 + r * 13;
            g.fillStyle = 'rgba(255, 255, 255, 0.75)';
            g.fillRect(x - 2, y - 10, tw + 4, 13);
            g.fillStyle = '#555';
            g.fillStyle = b.ink;
            g.fillText(text, x, y);
            break;
          }
        }
        g.restore();
      }
    });
  }
  function marker(g, xa, xb, top, bottom) {  // where an anomaly is: a red strip and a triangle
    g.fillStyle = 'rgba(198, 40, 40, 0.22)';
    g.fillRect(xa - 1, top, Math.max(xb - xa, 0) + 2, bottom - top);
    g.fillStyle = '#c62828';
    g.beginPath(); g.moveTo(xa - 5, top); g.lineTo(xa + 5, top); g.lineTo(xa, top + 7); g.fill();
  }
  function drawAxis(g, w, y, bottom) {
    var span = view.t1 - view.t0, step = niceStep(span, (w - LEFT) / 110);
    g.font = '11px system-ui, sans-serif'; g.fillStyle = '#666'; g.strokeStyle = '#eee';
    g.textAlign = 'center';
    for (var t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
      var x = xOf(t, w);
      g.beginPath(); g.moveTo(x, y + 4); g.lineTo(x, bottom); g.stroke();
      g.fillText(secs(t, step), x, y);
    }
    g.textAlign = 'left';
  }
  function faultsAt(t) {
    return D.bands.filter(function (b) { return b.s <= t && t <= b.e; })
      .map(function (b) { return b.label; });
  }
  function describeOp(j) {
    var lat = O.e[j] < 0 ? 'never completed' : ((O.e[j] - O.s[j]) / 1000).toFixed(1) + ' ms';
    var faults = faultsAt(O.s[j]);
    return [
      'process ' + D.procs[O.p[j]] + ' · ' + D.fs[O.f[j]] + ' · ' + TYPE_NAMES[O.t[j]] +
        ' · history index ' + O.i[j],
      'invoked ' + (O.s[j] / 1e6).toFixed(3) + ' s · ' +
        (O.e[j] < 0 ? lat : 'completed ' + (O.e[j] / 1e6).toFixed(3) + ' s · latency ' + lat),
      O.d[j],
      'fault in force: ' + (faults.length ? faults.join('; ') : 'none')
    ].join('\n');
  }

  // -- the timeline -----------------------------------------------------------------------------
  var tl = $('sb-timeline'), ov = $('sb-overview'), tip = $('sb-tip');

  function drawTimeline() {
    // one row per lane (processes that never overlap in time share one: see _lanes), only the
    // rows with an operation in view, each labelled with the processes it shows
    var vis = visible(), present = {}, j, k;
    for (k = 0; k < vis.length; k++) {
      var ln = LANE[O.p[vis[k]]];
      (present[ln] = present[ln] || {})[O.p[vis[k]]] = true;
    }
    var lanes = Object.keys(present).map(Number).sort(function (a, b) { return a - b; });
    var laneOf = {}, labels = [];
    lanes.forEach(function (ln, n) {
      laneOf[ln] = n;
      var ps = Object.keys(present[ln]).map(Number).sort(function (a, b) { return rankOf[a] - rankOf[b]; });
      labels.push(ps[0] === NEM ? 'nemesis' : ps.length === 1 ? 'process ' + D.procs[ps[0]]
        : ps.length === 2 ? 'p ' + D.procs[ps[0]] + ', ' + D.procs[ps[1]]
        : 'p ' + D.procs[ps[0]] + ' … ' + D.procs[ps[ps.length - 1]] + ' (' + ps.length + ')');
    });
    var laneH = clamp(Math.floor(560 / Math.max(lanes.length, 1)), 4, 18);
    var H = AXIS + 16 + lanes.length * laneH + 6, top = AXIS + 16;
    var c = setupCanvas(tl, H), g = c.g, w = c.w;
    drawAxis(g, w, 12, H);
    drawBands(g, w, AXIS + 2, H, true);
    g.font = '11px system-ui, sans-serif';
    lanes.forEach(function (ln, n) {
      var y = top + n * laneH;
      if (n % 2) { g.fillStyle = 'rgba(0, 0, 0, 0.025)'; g.fillRect(LEFT, y, w - LEFT - 8, laneH); }
      if (laneH >= 9 || n % Math.ceil(9 / laneH) === 0) {
        g.fillStyle = labels[n] === 'nemesis' ? '#7b1fa2' : '#555';
        g.save(); g.beginPath(); g.rect(0, y, LEFT - 4, laneH + 4); g.clip();
        g.fillText(labels[n], 4, y + Math.min(laneH, 14) - 3);
        g.restore();
      }
    });
    g.save();
    g.beginPath(); g.rect(LEFT, top, w - LEFT - 8, H - top); g.clip();
    var perLane = lanes.map(function () { return []; });
    var textOk = laneH >= 13;
    for (k = 0; k < vis.length; k++) {
      j = vis[k];
      var n = laneOf[LANE[O.p[j]]], x1 = xOf(O.s[j], w), x2 = xOf(E[j], w), wd = Math.max(x2 - x1, 1);
      var y = top + n * laneH + 1;
      perLane[n].push(j);
      g.fillStyle = O.p[j] === NEM ? (O.t[j] === 0 ? '#9575cd' : TYPE_COLORS[O.t[j]])
        : TYPE_COLORS[O.t[j]];
      g.globalAlpha = O.t[j] === 3 ? 0.55 : 1;
      g.fillRect(x1, y, wd, laneH - 2);
      if (textOk && wd > 46) {
        g.globalAlpha = 1; g.fillStyle = '#1d1d1f';
        g.save(); g.beginPath(); g.rect(x1, y, wd - 2, laneH); g.clip();
        g.fillText(O.d[j], x1 + 3, y + laneH - 5);
        g.restore();
      }
    }
    g.globalAlpha = 1;
    if (highlight || picked >= 0) {
      for (k = 0; k < vis.length; k++) {
        j = vis[k];
        if (!(highlight && highlight[j]) && j !== picked) continue;
        var yy = top + laneOf[LANE[O.p[j]]] * laneH + 1;
        g.lineWidth = 2; g.strokeStyle = j === picked ? '#1e4f91' : '#111';
        g.strokeRect(xOf(O.s[j], w), yy, Math.max(xOf(E[j], w) - xOf(O.s[j], w), 2), laneH - 2);
      }
    }
    g.restore();
    // Anomalies are numbered in time order (as their sections are). Each label takes the
    // first of a few rows where it does not cover the one before it; a label with no room
    // left is not written (its marker still is, and its number is in the tooltip strip).
    var rowEnd = [], placed = [];
    function shown(a) { return a.ops.length && !(a.e < view.t0 || a.s > view.t1); }
    var many = D.anomalies.filter(shown).length > 6;
    g.font = '600 11px system-ui, sans-serif';
    D.anomalies.forEach(function (a, n) {
      if (!shown(a)) return;
      var xa = xOf(a.s, w), xb = xOf(a.e, w);
      marker(g, xa, xb, AXIS + 2, H);
      var text = many ? '#' + (n + 1) : 'anomaly ' + (n + 1);
      var tw = g.measureText(text).width, x = Math.min(Math.max(xa, LEFT), w - tw - 4);
      for (var r = 0; r < LABEL_ROWS; r++) {
        if (rowEnd[r] === undefined || x > rowEnd[r] + 4) {
          rowEnd[r] = x + tw;
          placed.push({ n: n + 1, x: x, y: AXIS + 26 + r * 13, w: tw, text: text });
          break;
        }
      }
    });
    g.fillStyle = '#b71c1c';
    placed.forEach(function (l) { g.fillText(l.text, l.x, l.y); });
    tl.setAttribute('data-labels', JSON.stringify(placed.map(function (l) {
      return [l.n, Math.round(l.x), l.y, Math.round(l.w)];
    })));
    layout = { lanes: lanes, perLane: perLane, laneH: laneH, top: top, w: w };
    tl.setAttribute('data-drawn', String(vis.length));
    tl.setAttribute('data-lanes', String(lanes.length));
    var rng = $('sb-range');
    rng.textContent = secs(view.t0, 1e4) + ' – ' + secs(view.t1, 1e4) + ' of ' + secs(TEND, 1e4) +
      ' · ' + vis.length + ' operations in view';
  }

  var density = null;
  function drawOverview() {
    var c = setupCanvas(ov, 46), g = c.g, w = c.w, k, x;
    var saved = { t0: view.t0, t1: view.t1 };
    view.t0 = 0; view.t1 = TEND;
    drawBands(g, w, 0, 46, false);
    if (!density || density.length !== w) {
      density = new Float64Array(w);
      for (k = 0; k < N; k++) { x = Math.floor(xOf(O.s[k], w)); if (x >= 0 && x < w) density[x]++; }
    }
    var max = 1;
    for (x = 0; x < w; x++) if (density[x] > max) max = density[x];
    g.fillStyle = '#9aa7b8';
    for (x = 0; x < w; x++) if (density[x]) {  // square root: a burst does not flatten the rest
      var h = Math.max(1, Math.sqrt(density[x] / max) * 36);
      g.fillRect(x, 46 - h, 1, h);
    }
    D.anomalies.forEach(function (a) { if (a.ops.length) marker(g, xOf(a.s, w), xOf(a.e, w), 0, 46); });
    var xa = xOf(saved.t0, w), xb = xOf(saved.t1, w);
    view.t0 = saved.t0; view.t1 = saved.t1;
    g.fillStyle = 'rgba(255, 255, 255, 0.55)';
    g.fillRect(LEFT, 0, Math.max(xa - LEFT, 0), 46); g.fillRect(xb, 0, Math.max(w - 8 - xb, 0), 46);
    g.strokeStyle = '#1e4f91'; g.lineWidth = 2;
    g.strokeRect(xa, 1, Math.max(xb - xa, 2), 44);
    g.fillStyle = '#555'; g.font = '11px system-ui, sans-serif';
    g.fillText('whole run', 4, 16); g.fillText(secs(TEND, 1e5), 4, 32);
  }

  // -- latency and throughput, per f --------------------------------------------------------------
  var charts = [];
  function buildCharts() {
    var lat = $('sb-latency'), thr = $('sb-throughput');
    D.fs.forEach(function (f, fi) {
      if (!clientF[fi]) return;
      var lo = Infinity, hi = 0, count = 0;
      for (var j = 0; j < N; j++) {
        if (O.f[j] !== fi || O.p[j] === NEM || O.e[j] < 0) continue;
        var l = Math.max(O.e[j] - O.s[j], 10);
        if (l < lo) lo = l; if (l > hi) hi = l; count++;
      }
      if (!count) return;
      var ch = { f: fi, lo: Math.pow(10, Math.floor(Math.log10(lo / 1000))),
        hi: Math.pow(10, Math.ceil(Math.log10(hi / 1000) + 1e-9)) };
      ch.lat = addCanvas(lat, f, 'latency of ' + f);
      ch.thr = addCanvas(thr, f, 'throughput of ' + f);
      charts.push(ch);
    });
    if (!charts.length) {
      lat.appendChild(document.createTextNode('No client operation completed.'));
      thr.appendChild(document.createTextNode('No client operation completed.'));
    }
  }
  function addCanvas(parent, f, label) {
    var div = document.createElement('div'); div.className = 'chart';
    var h = document.createElement('h3'), code = document.createElement('code');
    code.textContent = f; h.appendChild(code); div.appendChild(h);
    var wrap = document.createElement('div'); wrap.className = 'canvas-wrap';
    var c = document.createElement('canvas'); c.setAttribute('aria-label', label);
    wrap.appendChild(c); div.appendChild(wrap); parent.appendChild(div);
    return c;
  }
  function drawCharts() {
    var vis = visible();
    charts.forEach(function (ch) {
      drawLatency(ch, vis);
      drawThroughput(ch, vis);
    });
  }
  function buckets(w) { return clamp(Math.floor((w - LEFT) / 24), 8, 80); }
  function drawLatency(ch, vis) {
    var H = 190, c = setupCanvas(ch.lat, H), g = c.g, w = c.w, top = 20, bottom = H - 6;
    var llo = Math.log10(ch.lo), lhi = Math.log10(ch.hi);
    function yOf(ms) { return bottom - (Math.log10(Math.max(ms, ch.lo)) - llo) / (lhi - llo) * (bottom - top); }
    drawAxis(g, w, 12, bottom);
    drawBands(g, w, top, bottom, false);
    g.font = '11px system-ui, sans-serif'; g.textAlign = 'right';
    for (var d = llo; d <= lhi; d++) {
      var y = yOf(Math.pow(10, d));
      g.strokeStyle = '#eee'; g.beginPath(); g.moveTo(LEFT, y); g.lineTo(w - 8, y); g.stroke();
      g.fillStyle = '#666';
      var ms = Math.pow(10, d);
      g.fillText(ms >= 1000 ? ms / 1000 + ' s' : ms + ' ms', LEFT - 6, y + 4);
    }
    g.textAlign = 'left';
    var nb = buckets(w), span = view.t1 - view.t0, per = [], b, k, j, n = 0;
    for (b = 0; b < nb; b++) per.push([]);
    g.save(); g.beginPath(); g.rect(LEFT, top - 2, w - LEFT - 8, bottom - top + 4); g.clip();
    var size = vis.length > 20000 ? 1.5 : 2.5;
    for (k = 0; k < vis.length; k++) {
      j = vis[k];
      if (O.f[j] !== ch.f || O.p[j] === NEM || O.e[j] < 0 || O.s[j] < view.t0) continue;
      var ms2 = (O.e[j] - O.s[j]) / 1000;
      g.fillStyle = TYPE_COLORS[O.t[j]];
      g.fillRect(xOf(O.s[j], w) - size / 2, yOf(ms2) - size / 2, size, size);
      b = Math.min(nb - 1, Math.floor((O.s[j] - view.t0) / span * nb));
      per[b].push(ms2); n++;
    }
    [[0.5, '#1d1d1f'], [0.95, '#1e4f91'], [0.99, '#8e24aa']].forEach(function (q) {
      g.strokeStyle = q[1]; g.lineWidth = 1.6; g.beginPath();
      var started = false;
      for (b = 0; b < nb; b++) {
        var xs = per[b];
        if (!xs.length) { started = false; continue; }
        if (!xs.sorted) { xs.sort(function (a, c2) { return a - c2; }); xs.sorted = true; }
        var v = xs[Math.min(xs.length - 1, Math.floor(q[0] * xs.length))];
        var x = xOf(view.t0 + (b + 0.5) / nb * span, w);
        if (started) g.lineTo(x, yOf(v)); else { g.moveTo(x, yOf(v)); started = true; }
      }
      g.stroke();
    });
    g.restore();
    ch.lat.setAttribute('data-points', String(n));
  }
  function drawThroughput(ch, vis) {
    var H = 130, c = setupCanvas(ch.thr, H), g = c.g, w = c.w, top = 20, bottom = H - 6;
    var nb = buckets(w), span = view.t1 - view.t0, width = span / nb / 1e6, k, j, b, t;
    var counts = [0, 1, 2].map(function () { var a = new Float64Array(nb); return a; });
    for (k = 0; k < vis.length; k++) {
      j = vis[k];
      if (O.f[j] !== ch.f || O.p[j] === NEM || O.e[j] < 0 || O.e[j] < view.t0 || O.e[j] > view.t1) continue;
      b = Math.min(nb - 1, Math.floor((O.e[j] - view.t0) / span * nb));
      counts[O.t[j]][b] += 1;
    }
    var max = 1;
    for (t = 0; t < 3; t++) for (b = 0; b < nb; b++) max = Math.max(max, counts[t][b] / width);
    var step = niceStep(max, 3), ymax = Math.ceil(max / step) * step;
    function yOf(r) { return bottom - r / ymax * (bottom - top); }
    drawAxis(g, w, 12, bottom);
    drawBands(g, w, top, bottom, false);
    g.font = '11px system-ui, sans-serif'; g.textAlign = 'right';
    for (var r = 0; r <= ymax + 1e-9; r += step) {
      g.strokeStyle = '#eee'; g.beginPath(); g.moveTo(LEFT, yOf(r)); g.lineTo(w - 8, yOf(r)); g.stroke();
      g.fillStyle = '#666'; g.fillText(+r.toPrecision(3) + '/s', LEFT - 6, yOf(r) + 4);
    }
    g.textAlign = 'left';
    for (t = 0; t < 3; t++) {
      g.strokeStyle = TYPE_COLORS[t]; g.lineWidth = 2; g.beginPath();
      for (b = 0; b < nb; b++) {
        var x = xOf(view.t0 + (b + 0.5) / nb * span, w), y = yOf(counts[t][b] / width);
        if (b) g.lineTo(x, y); else g.moveTo(x, y);
      }
      g.stroke();
    }
  }

  // -- interaction ------------------------------------------------------------------------------
  var pending = false;
  function redraw() {  // at the next frame, or soon, where no frames are drawn (headless)
    if (pending) return;
    pending = true;
    var done = false;
    function go() { if (done) return; done = true; pending = false; drawAll(); }
    requestAnimationFrame(go);
    setTimeout(go, 50);
  }
  function drawAll() { drawTimeline(); drawOverview(); drawCharts(); keepInUrl(); }
  // the window in view is kept in the address (#t=START-END, in seconds), so a view is a link
  function keepInUrl() {
    var whole = view.t0 <= 0 && view.t1 >= TEND;
    var hash = whole ? '' : '#t=' + (view.t0 / 1e6).toFixed(3) + '-' + (view.t1 / 1e6).toFixed(3);
    if (hash === location.hash || (!hash && !/^#t=/.test(location.hash))) return;
    try { history.replaceState(null, '', hash || location.pathname + location.search); } catch (e) {}
  }
  function fromUrl() {
    var m = /^#t=([\d.]+)-([\d.]+)$/.exec(location.hash);
    if (!m) return;
    var t0 = Number(m[1]) * 1e6, t1 = Number(m[2]) * 1e6, span = clamp(t1 - t0, MINWIN, TEND);
    view.t0 = clamp(t0, 0, TEND - span); view.t1 = view.t0 + span;
  }
  function setView(t0, t1) {
    var span = clamp(t1 - t0, MINWIN, TEND);
    t0 = clamp(t0, 0, TEND - span);
    view.t0 = t0; view.t1 = t0 + span;
    redraw();
  }
  function zoom(factor, at) {
    var span = view.t1 - view.t0, c = at === undefined ? view.t0 + span / 2 : at;
    var f = (c - view.t0) / span, ns = span * factor;
    setView(c - f * ns, c - f * ns + ns);
  }
  document.querySelectorAll('[data-act]').forEach(function (b) {
    b.addEventListener('click', function () {
      var span = view.t1 - view.t0, act = b.getAttribute('data-act');
      if (act === 'prev') setView(view.t0 - span, view.t1 - span);
      else if (act === 'next') setView(view.t0 + span, view.t1 + span);
      else if (act === 'in') zoom(0.5);
      else if (act === 'out') zoom(2);
      else if (act === 'all') { highlight = allAnomalies(); setView(0, TEND); }
    });
  });
  $('sb-window').addEventListener('change', function (ev) {
    var s = Number(ev.target.value);
    if (s > 0) setView(view.t0, view.t0 + s * 1e6); else setView(0, TEND);
  });
  var drag = null;
  tl.addEventListener('mousedown', function (ev) {
    drag = { x: ev.clientX, t0: view.t0, t1: view.t1, moved: false };
    ev.preventDefault();
  });
  window.addEventListener('mousemove', function (ev) {
    if (!drag) return;
    var dx = ev.clientX - drag.x;
    if (Math.abs(dx) > 3) drag.moved = true;
    if (!drag.moved) return;
    var dt = dx / (layout.w - LEFT - 8) * (drag.t1 - drag.t0);
    setView(drag.t0 - dt, drag.t1 - dt);
  });
  window.addEventListener('mouseup', function (ev) {
    if (drag && !drag.moved) {
      var j = hit(ev);
      picked = j;
      $('sb-picked').textContent = j >= 0 ? describeOp(j) : 'Click an operation to see it here.';
      redraw();
    }
    drag = null;
  });
  tl.addEventListener('mousemove', function (ev) {
    if (drag && drag.moved) { tip.style.display = 'none'; return; }
    var j = hit(ev);
    if (j < 0) { tip.style.display = 'none'; return; }
    tip.textContent = describeOp(j);
    var r = tl.getBoundingClientRect();
    tip.style.left = Math.min(ev.clientX - r.left + 14, r.width - 360) + 'px';
    tip.style.top = (ev.clientY - r.top + 16) + 'px';
    tip.style.display = 'block';
  });
  tl.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
  tl.addEventListener('dblclick', function (ev) {
    var r = tl.getBoundingClientRect();
    zoom(ev.shiftKey ? 2 : 0.5, tOf(ev.clientX - r.left, layout.w));
  });
  tl.addEventListener('wheel', function (ev) {
    if (!(ev.ctrlKey || ev.altKey || ev.metaKey)) return;
    ev.preventDefault();
    var r = tl.getBoundingClientRect();
    zoom(ev.deltaY > 0 ? 1.25 : 0.8, tOf(ev.clientX - r.left, layout.w));
  }, { passive: false });
  function hit(ev) {
    if (!layout) return -1;
    var r = tl.getBoundingClientRect(), x = ev.clientX - r.left, y = ev.clientY - r.top;
    var n = Math.floor((y - layout.top) / layout.laneH);
    if (x < LEFT || n < 0 || n >= layout.lanes.length) return -1;
    var t = tOf(x, layout.w), tol = 3 / (layout.w - LEFT - 8) * (view.t1 - view.t0), best = -1;
    layout.perLane[n].forEach(function (j) {
      if (O.s[j] - tol <= t && t <= E[j] + tol) best = j;
    });
    return best;
  }
  var ovDrag = false;
  function ovMove(ev) {
    var r = ov.getBoundingClientRect(), w = r.width;
    var t = (ev.clientX - r.left - LEFT) / (w - LEFT - 8) * TEND, span = view.t1 - view.t0;
    setView(t - span / 2, t + span / 2);
  }
  ov.addEventListener('mousedown', function (ev) { ovDrag = true; ovMove(ev); ev.preventDefault(); });
  window.addEventListener('mousemove', function (ev) { if (ovDrag) ovMove(ev); });
  window.addEventListener('mouseup', function () { ovDrag = false; });
  document.querySelectorAll('button.show-in-timeline').forEach(function (b) {
    b.addEventListener('click', function () {
      var a = D.anomalies[Number(b.getAttribute('data-anomaly'))];
      if (!a || !a.ops.length) return;
      highlight = {};
      a.ops.forEach(function (j) { highlight[j] = true; });
      var pad = Math.max((a.e - a.s) * 0.6, 20000);
      setView(a.s - pad, a.e + pad);
      $('timeline').scrollIntoView();
    });
  });
  window.addEventListener('resize', function () { density = null; redraw(); });

  try {
    fromUrl();
    buildCharts();
    drawAll();
    document.body.setAttribute('data-rendered', 'yes');
    document.body.setAttribute('data-render-ms', (performance.now() - T0).toFixed(0));
    document.body.setAttribute('data-ready-ms', performance.now().toFixed(0));
  } catch (err) {
    var p = document.createElement('p');
    p.className = 'error';
    p.textContent = 'The charts could not be drawn: ' + err;
    $('timeline').appendChild(p);
    document.body.setAttribute('data-render-error', String(err));
    throw err;
  }
})();
