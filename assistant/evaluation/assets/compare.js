/* Comparison viewer. All values come from the JSON block; report text (answers) is
   untrusted and only ever set with textContent. */
(function () {
  "use strict";
  var DATA = EvalPage.data();
  var el = EvalPage.el;
  function fmt(value, digits) {
    if (value === null || value === undefined) return "–";
    return value.toFixed(digits === undefined ? 3 : digits);
  }
  function signed(value, digits) { return (value > 0 ? "+" : "") + fmt(value, digits); }

  var runs = document.getElementById("runs");
  [["Bas", DATA.base], ["Ny", DATA.new]].forEach(function (pair) {
    var cfg = pair[1].config || {};
    var git = cfg.git || {};
    runs.appendChild(el("dt", { text: pair[0] }));
    runs.appendChild(el("dd", { text: pair[1].label + ": " + [cfg.retriever, "k=" + cfg.k, cfg.mode,
      cfg.llm_model || "", git.commit ? "commit " + git.commit.slice(0, 10) : "", cfg.timestamp || ""]
      .filter(Boolean).join(" · ") }));
  });
  (DATA.warnings || []).forEach(function (w) {
    document.getElementById("warnings").appendChild(el("li", { text: "Varning: " + w }));
  });

  var table = document.getElementById("metrics");
  table.appendChild(el("thead", {}, [el("tr", {}, ["metrik", "n", "bas", "ny", "delta", "95 % KI", ""]
    .map(function (h, i) { return el("th", { class: i && i < 6 ? "num" : "", text: h }); }))]));
  var body = el("tbody");
  (DATA.metrics || []).forEach(function (m) {
    var digits = m.digits; /* from the metric registry, via the comparison */
    var latency = m.kind === "latency"; /* unbounded, unlike the 0–1 metrics */
    var better = m.lower_is_better ? m.delta < 0 : m.delta > 0;
    var span = Math.max(Math.abs(m.ci95[0]), Math.abs(m.ci95[1]), latency ? 1e-9 : 0.25);
    var left = 50 + 50 * m.ci95[0] / span, right = 50 + 50 * m.ci95[1] / span;
    var bar = el("div", { class: "ci" }, [el("span", { class: "ci-zero" }),
      el("span", { class: "ci-range " + (m.significant ? (better ? "good" : "bad") : ""),
        style: "left:" + left.toFixed(1) + "%;width:" + Math.max(1, right - left).toFixed(1) + "%" })]);
    body.appendChild(el("tr", { "data-metric": m.metric }, [
      el("th", { text: m.metric }), el("td", { class: "num", text: String(m.n) }),
      el("td", { class: "num", text: fmt(m.base, digits) }), el("td", { class: "num", text: fmt(m.new, digits) }),
      el("td", { class: "num", text: signed(m.delta, digits) }),
      el("td", { class: "num", text: "[" + signed(m.ci95[0], digits) + ", " + signed(m.ci95[1], digits) + "]" }),
      el("td", {}, [bar])]));
  });
  table.appendChild(body);

  /* Both runs' abstention measures over the shared questions (evaluation/abstention.py). */
  function renderAbstention() {
    var data = DATA.abstention;
    if (!data) return;
    var base = data.base.scores || [], next = data.new.scores || [];
    var defined = base.concat(next).some(function (s) { return s.defined > 0; });
    if (!defined) return;
    var table = document.getElementById("abstention-table");
    table.appendChild(el("thead", {}, [el("tr", {}, ["mått", "bas", "ny", "delta"]
      .map(function (h, i) { return el("th", { class: i ? "num" : "", text: h }); }))]));
    var body = el("tbody");
    base.forEach(function (a, i) {
      var b = next[i] || {};
      var name = a.score + (a.score === "best_passage" ? " (referens)" : "");
      var rows = [["AUROC " + name, a.auroc, b.auroc]];
      (a.refusal_at || []).forEach(function (r, j) {
        var other = (b.refusal_at || [])[j] || {};
        rows.push(["vägrade vid " + Math.round(r.target * 100) + " % falska, " + name, r.refusal, other.refusal]);
      });
      rows.forEach(function (row) {
        var both = typeof row[1] === "number" && typeof row[2] === "number";
        body.appendChild(el("tr", { "data-abstention": row[0] }, [el("th", { text: row[0] }),
          el("td", { class: "num", text: fmt(row[1]) }), el("td", { class: "num", text: fmt(row[2]) }),
          el("td", { class: "num", text: both ? signed(row[2] - row[1]) : "–" })]));
      });
    });
    table.appendChild(body);
    document.getElementById("abstention-note").textContent = "På de " + data.base.n +
      " gemensamma frågorna (" + data.base.answerable + " besvarbara, " + data.base.unanswerable +
      " obesvarbara). AUROC skiljer besvarbara från obesvarbara; vägrade = andel obesvarbara " +
      "som vägras när tröskeln tillåter så många falska vägranden.";
    document.getElementById("abstention").hidden = false;
  }
  renderAbstention();

  function renderFlips() {
    var wanted = document.getElementById("filter-direction").value;
    var box = document.getElementById("flips");
    box.textContent = "";
    var shown = (DATA.flips || []).filter(function (f) { return !wanted || f.direction === wanted; });
    shown.forEach(function (f) {
      var bad = f.direction === "pass→fail";
      box.appendChild(el("article", { class: "flip", "data-id": f.id }, [
        el("h3", {}, [el("span", { class: "tag " + (bad ? "bad" : "good"), text: f.direction }), " " + f.id + " " + f.question]),
        el("div", { class: "pair" }, [["Bas", f.base], ["Ny", f.new]].map(function (side) {
          return el("div", {}, [el("strong", { text: side[0] }),
            el("div", { class: "answer", text: side[1].answer || "(tomt svar)" }),
            el("div", { class: "note", text: (side[1].failures || []).join("; ") || "godkänd" })]);
        }))]));
    });
    document.getElementById("count").textContent = shown.length + " av " + (DATA.flips || []).length;
  }
  document.getElementById("filter-direction").addEventListener("input", renderFlips);
  renderFlips();
  document.body.setAttribute("data-ready", "true");
})();
