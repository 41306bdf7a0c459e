/* Eval report viewer. Everything comes from the JSON block in this file; every value from
   a report (answers, passages, judge reasons) is untrusted text and is only ever set with
   textContent, never as markup. */
(function () {
  "use strict";
  var DATA = EvalPage.data();
  /* The metric registry (assistant/evaluation/metrics.py), embedded by the page's writer. */
  var CATALOG = DATA.metrics || [];
  function keys(test) {
    return CATALOG.filter(test).map(function (m) { return m.key; });
  }
  var QUALITY = keys(function (m) { return m.kind === "question"; });
  var JUDGE = keys(function (m) { return m.kind === "judge"; });
  var LATENCY = ["retrieve_p50", "retrieve_p95", "total_p50", "total_p95"];
  var CHART = keys(function (m) { return m.chart && m.kind !== "latency"; });
  var DIGITS = {};
  CATALOG.forEach(function (m) { DIGITS[m.key] = m.digits; });
  var MARKER = /\[(\d+(?:\s*[-–,;]\s*\d+)*)\]/g;
  var state = { run: 0, sort: { key: "status", dir: 1 }, open: {} };

  var el = EvalPage.el;
  function fmt(value, digits) {
    if (value === null || value === undefined || (typeof value === "number" && isNaN(value))) {
      return "–";
    }
    return typeof value === "number" ? value.toFixed(digits === undefined ? 3 : digits) : String(value);
  }
  function run() { return DATA.runs[state.run]; }

  /* --- configuration ------------------------------------------------------------------ */
  function renderConfig() {
    var cfg = run().config || {};
    var git = cfg.git || {};
    var corpus = cfg.corpus || {};
    var judge = cfg.judge || {};
    var rows = [
      ["Körning", cfg.name], ["Läge", cfg.mode], ["Hämtning", (cfg.retriever || "–") + ", k = " + cfg.k],
      ["Språkmodell", cfg.llm_model || "– (extraktivt)"], ["Inbäddningar", cfg.embedding_model],
      ["Domare", judge.model ? judge.model + " (" + judge.repeats + " upprepning(ar))" : "–"],
      ["Version", (cfg.versions || {}).assistant],
      ["Git", git.commit ? git.commit.slice(0, 12) + (git.dirty ? " (ändrade filer)" : "") : "–"],
      ["Korpus", corpus.sha256 ? corpus.files + " filer, " + corpus.sha256.slice(0, 12) : "–"],
      ["Frågefil", (cfg.eval_file || "–") + (cfg.eval_file_sha256 ? ", " + cfg.eval_file_sha256.slice(0, 12) : "")],
      ["Tid", (cfg.timestamp || "–") + (cfg.finished ? " → " + cfg.finished : "")]
    ];
    if (run().interrupted) rows.push(["Obs", "Körningen avbröts: rapporten är ofullständig"]);
    var list = document.getElementById("config-list");
    list.textContent = "";
    rows.forEach(function (row) {
      list.appendChild(el("dt", { text: row[0] }));
      list.appendChild(el("dd", { text: row[1] === undefined || row[1] === null ? "–" : String(row[1]) }));
    });
  }

  /* --- summary ------------------------------------------------------------------------ */
  function summaryColumns() {
    var agg = run().aggregate || {};
    var byKind = agg.by_kind || {};
    var names = ["overall"].concat(Object.keys(byKind));
    return { names: names, values: [agg].concat(Object.keys(byKind).map(function (k) { return byKind[k]; })) };
  }
  function renderSummary() {
    var cols = summaryColumns();
    var table = document.getElementById("summary-table");
    table.textContent = "";
    table.appendChild(el("thead", {}, [el("tr", {}, [el("th", { text: "metrik" })].concat(
      cols.names.map(function (n) { return el("th", { class: "num", text: n }); })))]));
    var body = el("tbody");
    var rows = [["n", function (s) { return s.n; }, 0]];
    QUALITY.concat(JUDGE).forEach(function (key) {
      if (JUDGE.indexOf(key) >= 0 && cols.values[0][key] === undefined) return;
      rows.push([key, function (s) {
        var v = s[key];
        var spread = s[key + "_spread"];
        var d = DIGITS[key];
        return (spread === null || spread === undefined) ? fmt(v, d) : fmt(v, d) + " ± " + fmt(spread, d);
      }, null]);
    });
    if (cols.values[0].judge_failures !== undefined) {
      rows.push(["domarfel", function (s) { return s.judge_failures; }, 0]);
    }
    LATENCY.forEach(function (key) {
      rows.push([key + " (ms)", function (s) { return (s.latency_ms || {})[key]; }, 1]);
    });
    rows.forEach(function (row) {
      body.appendChild(el("tr", {}, [el("th", { text: row[0] })].concat(cols.values.map(function (s) {
        var value = row[1](s);
        return el("td", { class: "num", text: row[2] === null ? value : fmt(value, row[2]) });
      }))));
    });
    table.appendChild(body);
    renderChart(cols.values[0]);
  }
  function renderChart(summary) {
    var ns = "http://www.w3.org/2000/svg";
    var keys = CHART.filter(function (k) { return summary[k] !== undefined; });
    var width = 640, rowH = 22, left = 150, height = keys.length * rowH + 10;
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "Metrik för hela körningen");
    keys.forEach(function (key, i) {
      var value = summary[key];
      var y = 5 + i * rowH;
      var label = document.createElementNS(ns, "text");
      label.setAttribute("x", left - 8); label.setAttribute("y", y + 14);
      label.setAttribute("text-anchor", "end"); label.textContent = key;
      svg.appendChild(label);
      var track = document.createElementNS(ns, "rect");
      track.setAttribute("x", left); track.setAttribute("y", y + 3);
      track.setAttribute("width", width - left - 60); track.setAttribute("height", rowH - 8);
      track.setAttribute("fill", "#eef1f4");
      svg.appendChild(track);
      if (typeof value === "number") {
        var bar = document.createElementNS(ns, "rect");
        bar.setAttribute("x", left); bar.setAttribute("y", y + 3);
        bar.setAttribute("width", Math.max(0, Math.min(1, value)) * (width - left - 60));
        bar.setAttribute("height", rowH - 8);
        bar.setAttribute("fill", JUDGE.indexOf(key) >= 0 ? "#8250df" : "#0a58ca");
        svg.appendChild(bar);
      }
      var text = document.createElementNS(ns, "text");
      text.setAttribute("x", width - 52); text.setAttribute("y", y + 14);
      text.textContent = fmt(value);
      svg.appendChild(text);
    });
    var box = document.getElementById("chart");
    box.textContent = "";
    box.appendChild(svg);
  }

  /* --- abstention (aggregate.abstention, see evaluation/abstention.py) ------------------- */
  var SCORE_COLORS = { confidence: "#0a58ca", best_passage: "#8c959f" };
  function scoreLabel(s) { return s.score + (s.score === "best_passage" ? " (referens)" : ""); }
  function renderAbstention() {
    var data = (run().aggregate || {}).abstention;
    var section = document.getElementById("abstention");
    var scores = data ? (data.scores || []) : [];
    section.hidden = !scores.some(function (s) { return s.defined > 0; });
    if (section.hidden) return;
    document.getElementById("abstention-counts").textContent = data.answerable + " besvarbara, " +
      data.unanswerable + " obesvarbara, " + data.correct + " rätt besvarade; hedge_rate " +
      fmt((run().aggregate || {}).hedge_rate);
    var table = document.getElementById("abstention-table");
    table.textContent = "";
    table.appendChild(el("thead", {}, [el("tr", {}, [el("th", { text: "mått" })].concat(
      scores.map(function (s) { return el("th", { class: "num", text: scoreLabel(s) }); })))]));
    var body = el("tbody");
    var rows = [["AUROC besvarbar/obesvarbar", function (s) { return fmt(s.auroc); }]];
    (scores[0].refusal_at || []).forEach(function (r, i) {
      rows.push(["vägrade obesvarbara vid " + Math.round(r.target * 100) + " % falska vägranden",
        function (s) {
          var at = (s.refusal_at || [])[i];
          return at && at.refusal !== null ? fmt(at.refusal) + " (" + fmt(at.false_refusal) + ")" : "–";
        }]);
    });
    rows.forEach(function (row) {
      body.appendChild(el("tr", {}, [el("th", { text: row[0] })].concat(scores.map(function (s) {
        return el("td", { class: "num", text: row[1](s) });
      }))));
    });
    table.appendChild(body);
    renderRiskCoverage(scores);
  }
  function svgNode(tag, attrs, text) {
    var node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  /* Accuracy of the kept questions (y) as coverage falls from 100 % to 10 % (x). */
  function renderRiskCoverage(scores) {
    var width = 640, height = 260, left = 62, right = 170, top = 12, bottom = 36;
    var plotW = width - left - right, plotH = height - top - bottom;
    var svg = svgNode("svg", { viewBox: "0 0 " + width + " " + height, role: "img",
      "aria-label": "Andel rätt besvarade mot täckning" });
    function x(coverage) { return left + (1 - coverage) / 0.9 * plotW; }
    function y(value) { return top + (1 - value) * plotH; }
    [0, 0.25, 0.5, 0.75, 1].forEach(function (v) {
      svg.appendChild(svgNode("line", { x1: left, x2: left + plotW, y1: y(v), y2: y(v), stroke: "#e3e7eb" }));
      svg.appendChild(svgNode("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" }, v.toFixed(2)));
    });
    [1, 0.8, 0.6, 0.4, 0.2].forEach(function (c) {
      svg.appendChild(svgNode("text", { x: x(c), y: top + plotH + 16, "text-anchor": "middle" },
        Math.round(c * 100) + " %"));
    });
    svg.appendChild(svgNode("text", { x: left + plotW / 2, y: height - 4, "text-anchor": "middle" },
      "täckning (andel frågor som besvaras, mest säkra först)"));
    svg.appendChild(svgNode("text", { x: 0, y: 0, "text-anchor": "middle",
      transform: "translate(12," + (top + plotH / 2) + ") rotate(-90)" }, "andel rätt besvarade"));
    var drawn = 0;
    scores.forEach(function (s, i) {
      var points = (s.risk_coverage || []).filter(function (p) { return typeof p.accuracy === "number"; });
      var color = SCORE_COLORS[s.score] || "#1a7f37";
      var ly = top + 14 + i * 18;
      svg.appendChild(svgNode("line", { x1: left + plotW + 12, x2: left + plotW + 32, y1: ly - 4, y2: ly - 4,
        stroke: color, "stroke-width": 2, "stroke-dasharray": s.score === "best_passage" ? "5 3" : "" }));
      svg.appendChild(svgNode("text", { x: left + plotW + 38, y: ly }, scoreLabel(s) + (points.length ? "" : ": –")));
      if (!points.length) return;
      drawn += 1;
      svg.appendChild(svgNode("polyline", { fill: "none", stroke: color, "stroke-width": 2,
        "stroke-dasharray": s.score === "best_passage" ? "5 3" : "", "data-score": s.score,
        points: points.map(function (p) { return x(p.coverage).toFixed(1) + "," + y(p.accuracy).toFixed(1); }).join(" ") }));
    });
    var box = document.getElementById("risk-coverage");
    box.textContent = "";
    if (drawn) box.appendChild(svg);
  }

  /* --- question table ----------------------------------------------------------------- */
  function failed(q) { return (q.failures || []).length > 0; }
  function metric(q, key) {
    var v = (q.metrics || {})[key];
    return typeof v === "number" ? v : null;
  }
  var COLUMNS = [
    { key: "status", label: "status", get: function (q) { return failed(q) ? 0 : 1; },
      show: function (q) { return failed(q) ? "✗ underkänd" : "✓"; }, cls: "status" },
    { key: "id", label: "id", get: function (q) { return q.id; } },
    { key: "kind", label: "typ", get: function (q) { return q.kind || ""; } },
    { key: "question", label: "fråga", get: function (q) { return q.question; } }
  ].concat(CATALOG.filter(function (m) { return m.column && m.kind === "question"; })
    .map(function (m) { return { key: m.key, label: m.column, num: true, digits: m.digits }; }))
    .concat([{ key: "refused", label: "vägrade", get: function (q) { return q.refused ? 1 : 0; },
      show: function (q) { return q.refused ? "ja" : ""; } }]);
  function judgeColumns() {
    var qs = run().questions || [];
    return CATALOG.filter(function (m) {
      return m.column && m.kind === "judge" && qs.some(function (q) {
        return q.judge && q.judge.metrics && q.judge.metrics[m.key];
      });
    }).map(function (m) { return { key: m.key, label: m.column, num: true, digits: m.digits }; });
  }
  function columns() {
    var latency = CATALOG.filter(function (m) { return m.kind === "latency"; })[0] || { digits: 1 };
    return COLUMNS.concat(judgeColumns()).concat([{ key: "total_ms", label: "ms", num: true,
      digits: latency.digits, get: function (q) { return (q.timings_ms || {}).total; } }]);
  }
  function value(col, q) {
    if (col.get) return col.get(q);
    return metric(q, col.key);
  }
  function compare(a, b) {
    if (a === b) return 0;
    if (a === null || a === undefined) return 1;
    if (b === null || b === undefined) return -1;
    if (typeof a === "number" && typeof b === "number") return a - b;
    return String(a).localeCompare(String(b), "sv", { numeric: true });
  }
  function filtered() {
    var text = document.getElementById("filter-text").value.trim().toLowerCase();
    var status = document.getElementById("filter-status").value;
    var kind = document.getElementById("filter-kind").value;
    return (run().questions || []).filter(function (q) {
      if (status === "fail" && !failed(q)) return false;
      if (status === "pass" && failed(q)) return false;
      if (kind && q.kind !== kind) return false;
      if (!text) return true;
      return [q.id, q.question, q.answer].join("\n").toLowerCase().indexOf(text) >= 0;
    });
  }
  function renderHead() {
    var cols = columns();
    var row = el("tr");
    cols.forEach(function (col) {
      var th = el("th", { text: col.label, scope: "col", tabindex: "0", "data-key": col.key,
        class: col.num ? "num" : "" });
      if (state.sort.key === col.key) th.setAttribute("aria-sort", state.sort.dir > 0 ? "ascending" : "descending");
      var sort = function () {
        state.sort = { key: col.key, dir: state.sort.key === col.key ? -state.sort.dir : 1 };
        renderHead(); renderRows();
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sort(); });
      row.appendChild(th);
    });
    var head = document.querySelector("#question-table thead");
    head.textContent = "";
    head.appendChild(row);
  }
  function renderRows() {
    var cols = columns();
    var col = cols.filter(function (c) { return c.key === state.sort.key; })[0] || cols[0];
    var items = filtered().slice().sort(function (a, b) {
      var primary = compare(value(col, a), value(col, b)) * state.sort.dir;
      return primary || compare(a.id, b.id);
    });
    var body = document.querySelector("#question-table tbody");
    body.textContent = "";
    items.forEach(function (q) {
      var row = el("tr", { class: "q-row " + (failed(q) ? "fail" : "pass"), tabindex: "0",
        "data-id": q.id, "aria-expanded": state.open[q.id] ? "true" : "false" });
      cols.forEach(function (c) {
        var v = value(c, q);
        var shown = c.show ? c.show(q) : (c.num ? fmt(v, c.digits) : (v === undefined ? "" : String(v)));
        row.appendChild(el("td", { class: (c.cls || "") + (c.num ? " num" : ""), text: shown }));
      });
      var toggle = function () { state.open[q.id] = !state.open[q.id]; renderRows(); };
      row.addEventListener("click", toggle);
      row.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(); } });
      body.appendChild(row);
      if (state.open[q.id]) {
        body.appendChild(el("tr", { class: "detail", "data-detail": q.id },
          [el("td", { colspan: String(cols.length) }, [detail(q)])]));
      }
    });
    document.getElementById("count").textContent =
      items.length + " av " + (run().questions || []).length + " frågor";
  }

  /* --- one question ------------------------------------------------------------------- */
  function anchor(q, n) { return "q-" + state.run + "-" + q.id + "-src-" + n; }
  function linkedAnswer(q) {
    var box = el("div", { class: "answer" });
    var text = q.answer || "(tomt svar)";
    var known = {};
    (q.sources || []).forEach(function (s) { known[s.n] = true; });
    var last = 0;
    text.replace(MARKER, function (match, inner, offset) {
      box.appendChild(document.createTextNode(text.slice(last, offset)));
      box.appendChild(document.createTextNode("["));
      inner.split(/(\s*[-–,;]\s*)/).forEach(function (part) {
        var n = parseInt(part, 10);
        if (!isNaN(n) && String(n) === part.trim() && known[n]) {
          box.appendChild(el("a", { class: "cite", href: "#" + anchor(q, n), text: part }));
        } else {
          box.appendChild(document.createTextNode(part));
        }
      });
      box.appendChild(document.createTextNode("]"));
      last = offset + match.length;
      return match;
    });
    box.appendChild(document.createTextNode(text.slice(last)));
    return box;
  }
  function passage(q, s) {
    var cited = (q.citations || []).indexOf(s.n) >= 0;
    var meta = "[" + s.n + "] " + (s.title || s.id) + " · " + s.id +
      (s.municipality ? " · " + s.municipality : "") + (s.date ? " · " + s.date : "") +
      " · poäng " + fmt(s.score) + (cited ? " · citerad" : "");
    var text = el("div", { class: "text" });
    var body = s.text || "";
    if (s.highlight && s.highlight.length === 2) {
      text.appendChild(document.createTextNode(body.slice(0, s.highlight[0])));
      text.appendChild(el("mark", { text: body.slice(s.highlight[0], s.highlight[1]) }));
      text.appendChild(document.createTextNode(body.slice(s.highlight[1])));
    } else {
      text.textContent = body;
    }
    return el("div", { class: "passage" + (cited ? " cited" : ""), id: anchor(q, s.n) },
      [el("div", { class: "meta", text: meta }), text]);
  }
  function verdicts(q) {
    var judge = q.judge;
    if (!judge || !judge.metrics) return null;
    var list = el("ul", { class: "verdicts" });
    JUDGE.forEach(function (key) {
      var v = judge.metrics[key];
      if (!v) return;
      var head = key + ": ";
      var parts = [el("strong", { text: head })];
      if (v.skipped) {
        parts.push(el("span", { class: "tag", text: "bedöms inte: " + v.skipped }));
      } else {
        parts.push(document.createTextNode(fmt(v.score) + (v.spread !== null && v.spread !== undefined ? " ± " + fmt(v.spread) : "") +
          " (" + (v.scores || []).filter(function (x) { return x !== null; }).length + " bedömning(ar))"));
      }
      if (v.failures) parts.push(el("span", { class: "tag bad", text: v.failures + " domarfel" }));
      if (v.reason) parts.push(el("div", { class: "reason", text: v.reason }));
      if (v.claims && v.claims.length) {
        parts.push(el("ol", { class: "claims" }, v.claims.map(function (c) {
          return el("li", {}, [el("span", { class: "tag " + (c.supported ? "good" : "bad"),
            text: c.supported ? "stöds" : "stöds inte" }), " " + c.claim]);
        })));
      }
      (v.errors || []).forEach(function (e) { parts.push(el("div", { class: "note", text: "fel: " + e })); });
      list.appendChild(el("li", {}, parts));
    });
    return list;
  }
  function detail(q) {
    var box = el("div");
    if ((q.failures || []).length) {
      box.appendChild(el("p", {}, [el("span", { class: "tag bad", text: "underkänd" }), " " + q.failures.join("; ")]));
    }
    (q.history || []).forEach(function (turn) {
      box.appendChild(el("p", { class: "note", text: turn.role + ": " + turn.content }));
    });
    box.appendChild(el("h3", { text: q.refused ? "Svar (vägrade)" : "Svar" }));
    box.appendChild(linkedAnswer(q));
    if (q.refused) {
      var reason = q.refusal ? JSON.stringify(q.refusal) : (q.notice || "inga källor som stöder ett svar");
      box.appendChild(el("p", {}, [el("strong", { text: "Vägransskäl: " }), reason]));
    } else if (q.notice) {
      box.appendChild(el("p", {}, [el("strong", { text: "Notis: " }), q.notice]));
    }
    var facts = [];
    if ((q.missing_groups || []).length) facts.push("saknas: " + q.missing_groups.map(function (g) { return g.join(" | "); }).join("; "));
    if ((q.met_groups || []).length) facts.push("med: " + q.met_groups.map(function (g) { return g.join(" | "); }).join("; "));
    box.appendChild(el("dl", {}, [
      el("dt", { text: "Förväntade källor" }), el("dd", { text: (q.expected_sources || []).join(", ") || "(inga: ska vägra)" }),
      el("dt", { text: "Hämtade källor" }), el("dd", { text: (q.retrieved_sources || []).join(", ") || "(inga)" }),
      el("dt", { text: "Fakta" }), el("dd", { text: facts.join(" · ") || "–" }),
      el("dt", { text: "Referenssvar" }), el("dd", { text: q.reference_answer || "–" }),
      el("dt", { text: "Tider (ms)" }), el("dd", { text: ["retrieve", "generate", "total"].map(function (k) { return k + " " + fmt((q.timings_ms || {})[k], 1); }).join(", ") })
    ]));
    var judged = verdicts(q);
    if (judged) { box.appendChild(el("h3", { text: "Domarens bedömning" })); box.appendChild(judged); }
    box.appendChild(el("h3", { text: "Hämtade passager" }));
    if (!(q.sources || []).length) box.appendChild(el("p", { class: "note", text: "Inga passager i rapporten." }));
    (q.sources || []).forEach(function (s) { box.appendChild(passage(q, s)); });
    return box;
  }

  /* --- wiring ------------------------------------------------------------------------- */
  function renderKinds() {
    var select = document.getElementById("filter-kind");
    var current = select.value;
    while (select.options.length > 1) select.remove(1);
    var kinds = {};
    (run().questions || []).forEach(function (q) { kinds[q.kind || ""] = true; });
    Object.keys(kinds).sort().forEach(function (k) { select.appendChild(el("option", { value: k, text: k })); });
    select.value = kinds[current] ? current : "";
  }
  function renderAll() {
    renderConfig(); renderSummary(); renderAbstention(); renderKinds(); renderHead(); renderRows();
  }
  if (DATA.runs.length > 1) {
    var picker = document.getElementById("run");
    DATA.runs.forEach(function (r, i) {
      picker.appendChild(el("option", { value: String(i), text: (r.config || {}).name || "körning " + (i + 1) }));
    });
    picker.addEventListener("change", function () { state.run = Number(picker.value); state.open = {}; renderAll(); });
    document.getElementById("run-picker").hidden = false;
  }
  ["filter-text", "filter-status", "filter-kind"].forEach(function (id) {
    document.getElementById(id).addEventListener("input", renderRows);
  });
  renderAll();
  document.body.setAttribute("data-ready", "true");
})();
