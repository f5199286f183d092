/* Draws each <canvas data-chart="ID"> from the JSON in <script id="ID"> (analytics/charts.py chart_data).
   Chart.js is served from our own static files (vendor/), never from a CDN. */
(function () {
  "use strict";
  var PALETTE = ["#2069a0", "#e07b39", "#3a9d5d", "#c0392b", "#8e6bbf", "#8c6d4f", "#d45fa0", "#7f8c8d",
                 "#b8a92c", "#1fa2b8", "#34495e", "#e6a8a0"];
  var lang = document.documentElement.lang || "en";

  function tick(unit, currency) {
    var number = new Intl.NumberFormat(lang, {maximumFractionDigits: 1});
    if (unit === "share") { return function (v) { return number.format(v) + "%"; }; }
    if (unit === "money") {
      var money;
      try { money = new Intl.NumberFormat(lang, {style: "currency", currency: currency, maximumFractionDigits: 0}); }
      catch (e) { money = number; }
      return function (v) { return money.format(v); };
    }
    return function (v) { return number.format(v); };
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart"));
    if (!source || typeof Chart === "undefined") { return; }
    var spec = JSON.parse(source.textContent);
    var line = spec.type === "line";
    spec.datasets.forEach(function (set, i) {
      var colour = PALETTE[i % PALETTE.length];
      set.borderColor = colour;
      set.backgroundColor = line ? colour : colour + "cc";
      set.pointRadius = spec.labels.length > 40 ? 0 : 2;
      set.borderWidth = line ? 2 : 0;
      set.spanGaps = true;
    });
    // Many bars (segments) read better lying down, one row each.
    var lying = !line && spec.labels.length > 8;
    var value = {beginAtZero: true, ticks: {callback: tick(spec.unit, spec.currency)}};
    if (lying) {
      canvas.parentNode.style.height = Math.max(300, 60 + spec.labels.length * 22 * Math.max(1, spec.datasets.length)) + "px";
    }
    new Chart(canvas, {
      type: line ? "line" : "bar",
      data: {labels: spec.labels, datasets: spec.datasets},
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        indexAxis: lying ? "y" : "x",
        interaction: {mode: "index", intersect: false},
        scales: lying ? {x: value} : {y: value},
        plugins: {legend: {position: "bottom", labels: {boxWidth: 12}}}
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  });
})();
