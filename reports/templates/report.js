/* aigov HTML report: per-model sections, filters, search and pages.
 *
 * Inlined and allowed by its sha256 hash in the Content-Security-Policy. Reads the JSON data
 * block (#aigov-data, built by reports/html.py:page_data) and builds the DOM with
 * createElement and textContent only: no HTML string is ever parsed, so no registry string
 * can become markup. Model bodies are built when first opened, one page at a time.
 */
(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("aigov-data").textContent);
  var POLICIES = DATA.policies; // [id, title, severity, family, remediation, url]
  var EDGES = DATA.edges; // [child, child_kind, relation, parent, parent_kind, confidence, edge]
  var MODELS = DATA.models;
  var OUTCOMES = ["fail", "review", "indeterminate", "waived"];
  var STATUS_ORDER = new Map([["blocked", 0], ["attention", 1], ["clean", 2]]);

  var form = document.getElementById("filters");
  var list = document.getElementById("model-list");
  var countLabel = document.getElementById("match-count");
  var pageLabel = document.getElementById("page-label");
  var prevButton = document.getElementById("prev");
  var nextButton = document.getElementById("next");

  var byId; // model id -> index in MODELS, built once MODELS is in display order (below)

  var state = { matches: [], page: 0, size: 50, filter: null, key: null };

  // ------------------------------------------------------------------ DOM helpers

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function add(parent) {
    for (var i = 1; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return parent;
  }

  function badge(kind, value) {
    return el("span", kind + " " + kind + "-" + value, value);
  }

  function policyLink(policy) {
    var a = el("a", null, policy[0]);
    a.setAttribute("href", "#policy-" + encodeURIComponent(policy[0]));
    return a;
  }

  function externalLink(url, text) {
    if (typeof url !== "string" || !/^https?:\/\//.test(url)) return null;
    var a = el("a", null, text);
    a.setAttribute("href", url);
    a.setAttribute("rel", "noopener noreferrer");
    return a;
  }

  function show(value) {
    if (value === null || value === undefined) return "null";
    if (typeof value === "string") return value;
    return JSON.stringify(value);
  }

  // ------------------------------------------------------------------ filters

  function readFilter() {
    var checked = function (name) {
      var out = new Set();
      form.querySelectorAll("input[name=" + name + "]").forEach(function (box) {
        if (box.checked) out.add(box.value);
      });
      return out;
    };
    return {
      sev: checked("sev"),
      out: checked("out"),
      fam: checked("fam"),
      status: form.elements.status.value,
      q: form.elements.q.value.trim().toLowerCase(),
    };
  }

  function findingShown(f, filter) {
    var policy = POLICIES[f.p];
    return filter.sev.has(policy[2]) && filter.fam.has(policy[3]) && filter.out.has(f.o);
  }

  function haystack(m) {
    if (m._hay === undefined) {
      var parts = [m.id, m.name, m.provider, m.licence, m.owner, m.status];
      (m.dep || []).forEach(function (d) { parts.push(d[0], d[1], d[2], d[3]); });
      (m.f || []).forEach(function (f) {
        var policy = POLICIES[f.p];
        parts.push(policy[0], policy[1], f.s, f.m, f.o);
      });
      m._hay = parts.filter(function (p) { return p; }).join("\n").toLowerCase();
    }
    return m._hay;
  }

  function modelShown(m, filter) {
    if (filter.status && m.status !== filter.status) return false;
    if (filter.q && haystack(m).indexOf(filter.q) < 0) return false;
    var findings = m.f || [];
    if (!findings.length) return filter.out.has("clean");
    return findings.some(function (f) { return findingShown(f, filter); });
  }

  function filterKey(filter, size) {
    return JSON.stringify([Array.from(filter.sev).sort(), Array.from(filter.out).sort(),
      Array.from(filter.fam).sort(), filter.status, filter.q, size]);
  }

  function applyFilter(keepPage) {
    var filter = readFilter();
    var size = parseInt(form.elements.size.value, 10) || 0;
    var key = filterKey(filter, size);
    // A text field fires "change" again when it loses focus: nothing changed, so keep the
    // page as it is (with its open sections).
    if (key === state.key) return;
    state.key = key;
    state.filter = filter;
    state.size = size;
    state.matches = [];
    for (var i = 0; i < MODELS.length; i++) {
      if (modelShown(MODELS[i], filter)) state.matches.push(i);
    }
    if (!keepPage) state.page = 0;
    renderPage();
  }

  // ------------------------------------------------------------------ one model

  function counts(m, filter) {
    var n = {};
    (m.f || []).forEach(function (f) {
      if (findingShown(f, filter)) n[f.o] = (n[f.o] || 0) + 1;
    });
    return n;
  }

  function modelSummary(m, filter) {
    var summary = el("summary");
    add(summary, el("span", "status status-" + m.status, m.status), el("span", "name", m.name));
    if (m.name !== m.id) add(summary, el("code", "mid", m.id));
    if (m.provider) add(summary, el("span", "muted", "provider " + m.provider));
    if (m.dep) add(summary, el("span", "muted", m.dep.length + (m.dep.length === 1 ? " deployment" : " deployments")));
    var n = counts(m, filter);
    OUTCOMES.forEach(function (o) {
      if (n[o]) add(summary, el("span", "out out-" + o, n[o] + " " + o));
    });
    if (!(m.f || []).length) add(summary, el("span", "out out-pass", "no findings"));
    return summary;
  }

  function pathText(indices) {
    if (!indices || !indices.length) return "";
    var parts = [EDGES[indices[0]][0]];
    indices.forEach(function (i) {
      var e = EDGES[i];
      parts.push(" —" + e[2] + (e[5] && e[5] !== "declared" ? " (" + e[5] + ")" : "") + "→ " + e[3]);
    });
    return parts.join("");
  }

  function deploymentsTable(m) {
    var table = el("table");
    var head = add(el("thead"), add(el("tr"),
      el("th", null, "deployment"), el("th", null, "platform"), el("th", null, "region"),
      el("th", null, "environment"), el("th", null, "exposure"), el("th", null, "status"),
      el("th", null, "approval")));
    var body = el("tbody");
    m.dep.forEach(function (d) {
      var id = el("td", null, d[0]);
      if (d[7]) add(id, " ", el("span", "tag", "proposed"));
      add(body, add(el("tr"), id, el("td", null, d[1]), el("td", null, d[2]), el("td", null, d[3]),
        el("td", null, d[4]), el("td", null, d[5]), el("td", d[6] ? null : "muted", d[6] || "none")));
    });
    return add(table, head, body);
  }

  function lineageList(m) {
    var ul = el("ul", "lineage");
    m.lin.forEach(function (i) {
      var e = EDGES[i];
      var li = add(el("li"), el("code", null, e[0]), " ", el("span", "edge-rel", e[2]), " ",
        el("code", null, e[3]), el("span", "muted", " (" + e[4] + ")"));
      if (e[5] && e[5] !== "declared") add(li, " ", el("span", "tag", e[5]));
      add(ul, li);
    });
    return ul;
  }

  function evidenceBlock(match) {
    var box = el("div", "evidence");
    var table = el("table");
    add(table, add(el("thead"), add(el("tr"), el("th", null, "role"), el("th", null, "record"),
      el("th", null, "fields"))));
    var body = el("tbody");
    var clauses = [];
    match.r.forEach(function (r) {
      var fields = el("ul", "fields");
      var values = r[3] || {};
      Object.keys(values).sort().forEach(function (k) {
        add(fields, add(el("li"), el("code", null, k), " = ", show(values[k])));
      });
      add(body, add(el("tr"), el("td", null, r[0]),
        add(el("td"), el("span", "muted", r[1] + " "), el("code", null, r[2])), add(el("td"), fields)));
      if (r[1] === "clause" && typeof values.quote === "string") clauses.push(r);
    });
    add(box, add(table, body));
    clauses.forEach(function (r) {
      var q = el("blockquote", "clause");
      add(q, el("span", null, "“" + r[3].quote + "”"));
      var cite = r[2] + (r[3].section ? ", § " + show(r[3].section) : "");
      if (r[3].ambiguity) cite += ". Ambiguity: " + show(r[3].ambiguity);
      add(q, el("cite", null, cite));
      add(box, q);
    });
    if (match.p && match.p.length) add(box, add(el("p"), "Lineage path: ", el("span", "path", pathText(match.p))));
    if (match.q) {
      Object.keys(match.q).sort().forEach(function (alias) {
        add(box, add(el("p"), "Lineage path to " + alias + ": ", el("span", "path", pathText(match.q[alias]))));
      });
    }
    return box;
  }

  function findingBlock(f) {
    var policy = POLICIES[f.p];
    var art = el("article", "finding out-" + f.o);
    art.dataset.sev = policy[2];
    art.dataset.fam = policy[3];
    art.dataset.out = f.o;
    var header = el("header");
    add(header, badge("out", f.o), badge("sev", policy[2]), policyLink(policy), el("span", null, policy[1]),
      el("span", "muted", f.k + " " + f.s));
    if (f.h) add(header, el("span", "tag", "proposed deployment"));
    add(art, header, el("p", "msg", f.m));
    if (f.w) {
      var w = el("div", "waiver-box" + (f.w[4] ? " expired" : ""));
      add(w, el("strong", null, f.w[4] ? "Expired waiver " : "Waived by "), el("code", null, f.w[0]),
        " (approved by " + f.w[2] + (f.w[4] ? ", expired " : ", until ") + f.w[3] + "): " + f.w[1]);
      add(art, w);
    }
    if (f.x) add(art, add(el("p"), el("strong", null, "Missing: "), f.x.join(", ")));
    if (f.y) add(art, add(el("p"), el("strong", null, "Rests on alleged or unverified facts: "), f.y.join(", ")));
    if (f.a) f.a.forEach(function (a) { add(art, add(el("p"), el("strong", null, "Absent: "), a)); });
    (f.e || []).forEach(function (match, i) {
      if (f.e.length > 1) add(art, el("h5", null, "Match " + (i + 1)));
      add(art, evidenceBlock(match));
    });
    if (f.n) add(art, el("p", "muted", f.n + " more match" + (f.n === 1 ? "" : "es") +
      " not listed (the shortest lineage paths are shown; `aigov explain` lists every one)."));
    if (policy[4]) add(art, add(el("p"), el("strong", null, "Remediation: "), policy[4]));
    var ref = externalLink(policy[5], "reference");
    if (ref) add(art, add(el("p", "muted"), "See ", ref, " ", el("span", "url", policy[5])));
    add(art, el("p", "fid", "finding " + f.i));
    return art;
  }

  function buildBody(m, details) {
    var body = el("div", "model-body");
    var facts = el("dl", "facts");
    [["model", m.id], ["provider", m.provider], ["licence", m.licence], ["owner", m.owner]].forEach(function (kv) {
      add(facts, el("dt", null, kv[0]), el("dd", kv[1] ? null : "muted", kv[1] || "not recorded"));
    });
    add(body, facts);
    add(body, el("h4", null, "Deployments"));
    add(body, m.dep ? deploymentsTable(m) : el("p", "empty", "No deployments."));
    add(body, el("h4", null, "Lineage"));
    add(body, m.lin ? lineageList(m) : el("p", "empty", "No recorded ancestry."));
    add(body, el("h4", null, "Findings"));
    if (m.f) {
      m.f.forEach(function (f) { add(body, findingBlock(f)); });
      add(body, el("p", "empty hidden-note", "Findings of this model are hidden by the filters."));
    } else {
      add(body, el("p", "empty", "No findings: every applicable policy passed."));
    }
    details.appendChild(body);
    filterBody(details);
  }

  function filterBody(details) {
    var filter = state.filter;
    var visible = 0;
    details.querySelectorAll("article.finding").forEach(function (art) {
      var shown = filter.sev.has(art.dataset.sev) && filter.fam.has(art.dataset.fam) && filter.out.has(art.dataset.out);
      art.hidden = !shown;
      if (shown) visible++;
    });
    var note = details.querySelector(".hidden-note");
    if (note) note.hidden = visible > 0;
  }

  function modelDetails(index) {
    var m = MODELS[index];
    var details = el("details", "model");
    details.dataset.model = m.id;
    details.dataset.status = m.status;
    details.id = "model-" + m.id;
    details.appendChild(modelSummary(m, state.filter));
    details.addEventListener("toggle", function () {
      if (details.open && !details.querySelector(".model-body")) buildBody(m, details);
    });
    return details;
  }

  // ------------------------------------------------------------------ pages

  function pageCount() {
    if (!state.size) return 1;
    return Math.max(1, Math.ceil(state.matches.length / state.size));
  }

  function renderPage() {
    var total = state.matches.length;
    state.page = Math.min(state.page, pageCount() - 1);
    var start = state.size ? state.page * state.size : 0;
    var end = state.size ? Math.min(total, start + state.size) : total;
    var fragment = document.createDocumentFragment();
    for (var i = start; i < end; i++) fragment.appendChild(modelDetails(state.matches[i]));
    list.replaceChildren(fragment);
    countLabel.textContent = total
      ? "Showing models " + (start + 1) + "–" + end + " of " + total + " matching (" + MODELS.length + " audited)."
      : "No model matches the filters (" + MODELS.length + " audited).";
    pageLabel.textContent = "page " + (state.page + 1) + " of " + pageCount();
    prevButton.disabled = state.page <= 0;
    nextButton.disabled = state.page >= pageCount() - 1;
  }

  function openModel(id) {
    var index = byId.get(id);
    if (index === undefined) return;
    var pos = state.matches.indexOf(index);
    if (pos < 0) {
      form.reset();
      applyFilter(false);
      pos = state.matches.indexOf(index);
    }
    if (pos < 0) return;
    state.page = state.size ? Math.floor(pos / state.size) : 0;
    renderPage();
    var details = list.querySelector("details.model:nth-child(" + (pos - (state.size ? state.page * state.size : 0) + 1) + ")");
    if (details) {
      details.open = true;
      if (!details.querySelector(".model-body")) buildBody(MODELS[index], details);
      details.scrollIntoView();
    }
  }

  function fromHash() {
    var hash = location.hash.slice(1);
    if (hash.indexOf("model-") !== 0) return;
    var id;
    try { id = decodeURIComponent(hash.slice(6)); } catch (err) { return; }
    openModel(id);
  }

  // ------------------------------------------------------------------ wiring

  form.addEventListener("input", function () { applyFilter(false); });
  form.addEventListener("change", function () { applyFilter(false); });
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  prevButton.addEventListener("click", function () { state.page--; renderPage(); });
  nextButton.addEventListener("click", function () { state.page++; renderPage(); });
  document.getElementById("expand-all").addEventListener("click", function () {
    list.querySelectorAll("details.model").forEach(function (d) { d.open = true; });
  });
  document.getElementById("collapse-all").addEventListener("click", function () {
    list.querySelectorAll("details.model").forEach(function (d) { d.open = false; });
  });
  window.addEventListener("hashchange", fromHash);

  // Printing: open every section on the current page (a closed <details> prints its
  // summary only), and close again afterwards what was closed.
  var reopened = [];
  window.addEventListener("beforeprint", function () {
    reopened = [];
    document.querySelectorAll("details").forEach(function (d) {
      if (!d.open) {
        reopened.push(d);
        d.open = true;
        if (d.classList.contains("model") && !d.querySelector(".model-body")) {
          buildBody(MODELS[byId.get(d.dataset.model)], d);
        }
      }
    });
  });
  window.addEventListener("afterprint", function () {
    reopened.forEach(function (d) { d.open = false; });
    reopened = [];
  });

  // Blocked models first, then those needing attention, then clean; within each the data's
  // order (Array.prototype.sort is stable).
  MODELS = MODELS.slice().sort(function (a, b) {
    var sa = STATUS_ORDER.has(a.status) ? STATUS_ORDER.get(a.status) : 3;
    var sb = STATUS_ORDER.has(b.status) ? STATUS_ORDER.get(b.status) : 3;
    return sa - sb;
  });
  byId = new Map();
  MODELS.forEach(function (m, i) { byId.set(m.id, i); });

  applyFilter(false);
  fromHash();
  document.documentElement.dataset.ready = "1";
})();
