/* kernel-harness report: draws the page's plotly figures from their JSON blocks and
   runs the client-side filters (backend, dtype, machine). No network, no server. */
(function () {
  "use strict";
  var DIMS = ["backend", "dtype", "machine"];
  var figs = [];

  function selected() {
    var s = {};
    DIMS.forEach(function (d) {
      var boxes = document.querySelectorAll('input[data-dim="' + d + '"]');
      if (!boxes.length) { s[d] = null; return; }
      s[d] = new Set();
      boxes.forEach(function (b) { if (b.checked) s[d].add(b.value); });
    });
    return s;
  }

  function passes(meta, s) {
    if (!meta) return true;
    for (var i = 0; i < DIMS.length; i++) {
      var d = DIMS[i], v = meta[d];
      if (v === undefined || v === null || s[d] === null) continue;
      if (!s[d].has(String(v))) return false;
    }
    return true;
  }

  function visible(el) { return !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length); }

  function updateFig(f, s) {
    var vis = [], idx = [];
    f.metas.forEach(function (meta, i) {
      if (meta && meta.axes) {
        // A matrix: keep the rows and columns whose labels pass the filters.
        var full = f.full[i];
        var cols = [], rows = [];
        full.x.forEach(function (_, j) { if (passes(meta.axes.x ? meta.axes.x[j] : null, s)) cols.push(j); });
        full.y.forEach(function (_, j) { if (passes(meta.axes.y ? meta.axes.y[j] : null, s)) rows.push(j); });
        var pick = function (m) { return rows.map(function (r) { return cols.map(function (c) { return m[r][c]; }); }); };
        var upd = { x: [cols.map(function (c) { return full.x[c]; })], y: [rows.map(function (r) { return full.y[r]; })],
                    z: [pick(full.z)] };
        if (full.text) upd.text = [pick(full.text)];
        if (full.customdata) upd.customdata = [pick(full.customdata)];
        Plotly.restyle(f.el, upd, [i]);
      } else {
        vis.push(passes(meta, s) ? f.vis0[i] : false);
        idx.push(i);
      }
    });
    if (idx.length) Plotly.restyle(f.el, { visible: vis }, idx);
  }

  function resizeVisible() {
    figs.forEach(function (f) { if (visible(f.el)) Plotly.Plots.resize(f.el); });
  }

  function applyFilters() {
    var s = selected();
    document.querySelectorAll("[data-f]").forEach(function (el) {
      var meta = {};
      DIMS.forEach(function (d) { var v = el.getAttribute("data-f-" + d); if (v !== null) meta[d] = v; });
      el.classList.toggle("filtered-out", !passes(meta, s));
    });
    figs.forEach(function (f) { updateFig(f, s); });
    resizeVisible();
    var counter = document.getElementById("filter-count");
    if (counter) {
      var rows = document.querySelectorAll("tr[data-f]"), shown = 0;
      rows.forEach(function (r) { if (!r.classList.contains("filtered-out")) shown++; });
      counter.textContent = shown + " of " + rows.length + " table rows shown";
    }
  }

  function draw() {
    document.querySelectorAll("div[data-fig]").forEach(function (el) {
      var block = document.getElementById(el.getAttribute("data-fig"));
      if (!block) return;
      var fig = JSON.parse(block.textContent);
      var metas = fig.data.map(function (t) { return t.meta || null; });
      var full = fig.data.map(function (t) {
        return (t.meta && t.meta.axes) ? JSON.parse(JSON.stringify({ x: t.x, y: t.y, z: t.z, text: t.text, customdata: t.customdata })) : null;
      });
      var vis0 = fig.data.map(function (t) { return t.visible === undefined ? true : t.visible; });
      Plotly.newPlot(el, fig.data, fig.layout, Object.assign({ displaylogo: false, responsive: true }, fig.config || {}));
      figs.push({ el: el, metas: metas, full: full, vis0: vis0 });
    });
  }

  function wireSwitches() {
    // <select data-switch="g"> shows the panel [data-switch-group="g"][data-switch-value=v].
    document.querySelectorAll("select[data-switch]").forEach(function (sel) {
      var show = function () {
        var g = sel.getAttribute("data-switch");
        document.querySelectorAll('[data-switch-group="' + CSS.escape(g) + '"]').forEach(function (p) {
          p.hidden = p.getAttribute("data-switch-value") !== sel.value;
        });
        resizeVisible();
      };
      sel.addEventListener("change", show);
      show();
    });
  }

  function wireFilters() {
    var form = document.getElementById("filters");
    if (!form) return;
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    form.addEventListener("change", applyFilters);
    form.querySelectorAll("button[data-dim]").forEach(function (b) {
      b.addEventListener("click", function () {
        var on = b.classList.contains("all");
        form.querySelectorAll('input[data-dim="' + b.getAttribute("data-dim") + '"]').forEach(function (c) { c.checked = on; });
        applyFilters();
      });
    });
  }

  function init() {
    if (typeof Plotly === "undefined") {
      document.body.insertAdjacentHTML("afterbegin", '<p class="warn">plotly.min.js did not load: rebuild the report.</p>');
      return;
    }
    draw();
    wireSwitches();
    wireFilters();
    applyFilters();
    document.body.setAttribute("data-ready", "1");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
