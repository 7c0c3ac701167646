"""The HTML report (``--html``): one self-contained file to open from disk (a file:// URL, no server).

Everything is inline: the style, the script and the report itself, embedded once as JSON in a
``<script type="application/json">`` that the page's script parses and renders with plain DOM calls.
Nothing from the report is ever parsed as HTML: the page sets ``textContent`` (``Node.append`` of strings),
the JSON's ``<``, ``>`` and ``&`` are written as ``\\u003c``, ``\\u003e``, ``\\u0026`` so no string can close
its script element, and a Content-Security-Policy lets run only this page's own script and style (by hash)
and load nothing at all.

The page shows the backends, the findings grouped by code (filters by code, backend and level, a search
box; each finding opens to its evidence per backend side by side: outcome, message, rows, SQL, sample rows)
and the tests × backends matrix with the rows that differ highlighted. Long lists are rendered a page
(200) at a time with a "show more" button, and the search waits for typing to pause, so a report with
thousands of findings stays responsive.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from pathlib import Path
from typing import Any

from harness.findings import KINDS

STYLE = """
:root {
  --fg: #1f2328; --muted: #59636e; --bg: #ffffff; --panel: #f6f8fa; --border: #d1d9e0;
  --error: #cf222e; --error-bg: #ffebe9; --warning: #9a6700; --warning-bg: #fff8c5;
  --note: #0969da; --note-bg: #ddf4ff; --ok: #1a7f37; --ok-bg: #dafbe1;
  --differs-bg: #fff1c2; --diff-bg: #ffe2c8; --row-diff-bg: #ffb8b0;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
}
@media (prefers-color-scheme: dark) {
  :root {
    --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --panel: #151b23; --border: #3d444d;
    --error: #ff7b72; --error-bg: #3c1618; --warning: #d29922; --warning-bg: #3a2d0b;
    --note: #58a6ff; --note-bg: #0c2d4b; --ok: #3fb950; --ok-bg: #0f2e1a;
    --differs-bg: #3a2d0b; --diff-bg: #4a2c10; --row-diff-bg: #6e1f1a;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; padding: 0 1.5rem 3rem; color: var(--fg); background: var(--bg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
h1 { font-size: 1.5rem; margin: 1.2rem 0 0.3rem; }
h2 { font-size: 1.2rem; margin: 1.8rem 0 0.6rem; border-bottom: 1px solid var(--border); padding-bottom: 0.2rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 0.3rem; }
h4 { font-size: 0.95rem; margin: 0.9rem 0 0.3rem; }
code, pre, .mono { font-family: var(--mono); font-size: 12.5px; }
pre { margin: 0; white-space: pre-wrap; word-break: break-word; }
.muted { color: var(--muted); }
.meta { color: var(--muted); margin: 0; }
.meta span + span::before { content: " · "; }
.banner { margin: 0.8rem 0; padding: 0.5rem 0.8rem; border-radius: 6px; font-weight: 600; }
.banner.partial { color: var(--error); background: var(--error-bg); }
.chips { display: flex; flex-wrap: wrap; gap: 0.4rem; margin: 0.6rem 0; }
.chip, .badge {
  display: inline-block; padding: 0 0.5rem; border-radius: 1rem; font-size: 12px; font-weight: 600;
  border: 1px solid var(--border); background: var(--panel); white-space: nowrap;
}
.level-error { color: var(--error); background: var(--error-bg); border-color: var(--error); }
.level-warning { color: var(--warning); background: var(--warning-bg); border-color: var(--warning); }
.level-note { color: var(--note); background: var(--note-bg); border-color: var(--note); }
nav.toc a { margin-right: 1rem; color: var(--note); }
table { border-collapse: collapse; }
th, td { border: 1px solid var(--border); padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.toolbar {
  position: sticky; top: 0; z-index: 2; display: flex; flex-wrap: wrap; gap: 0.6rem 1rem; align-items: end;
  padding: 0.6rem 0; background: var(--bg); border-bottom: 1px solid var(--border);
}
.toolbar label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
.toolbar input, .toolbar select, button {
  font: inherit; color: var(--fg); background: var(--bg); border: 1px solid var(--border);
  border-radius: 6px; padding: 0.25rem 0.5rem;
}
.toolbar input[type="search"] { width: 24rem; max-width: 80vw; }
.toolbar label.check { flex-direction: row; align-items: center; gap: 0.3rem; }
button { cursor: pointer; background: var(--panel); }
button.link { border: none; background: none; color: var(--note); padding: 0; text-decoration: underline; }
.status { margin: 0.6rem 0; color: var(--muted); }
.more { margin: 0.8rem 0; }
.group > h3 { display: flex; gap: 0.5rem; align-items: baseline; }
.group > .summary { margin: 0 0 0.4rem; color: var(--muted); }
details.finding {
  border: 1px solid var(--border); border-left-width: 4px; border-radius: 6px; margin: 0.3rem 0;
  scroll-margin-top: 5rem;
}
details.finding.level-error { border-left-color: var(--error); background: none; color: inherit; }
details.finding.level-warning { border-left-color: var(--warning); background: none; color: inherit; }
details.finding.level-note { border-left-color: var(--note); background: none; color: inherit; }
details.finding > summary { cursor: pointer; padding: 0.35rem 0.6rem; list-style-position: inside; }
details.finding > summary .code { font-weight: 700; margin-right: 0.3rem; }
details.finding > summary .where { display: block; color: var(--muted); font-size: 12px; margin-left: 1.2rem; }
details.finding[open] > summary { border-bottom: 1px solid var(--border); background: var(--panel); }
.body { padding: 0.4rem 0.8rem 0.8rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.15rem 1rem; margin: 0.3rem 0 0.6rem; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; word-break: break-word; }
table.evidence { width: 100%; table-layout: fixed; margin: 0.4rem 0; }
table.evidence th.field { width: 7rem; }
table.evidence tr.differs > th.field { background: var(--differs-bg); }
table.evidence td.diff { background: var(--diff-bg); }
table.evidence td { overflow-wrap: anywhere; }
.sample-scroll { overflow-x: auto; max-width: 100%; }
table.sample { margin-top: 0.2rem; }
table.sample th, table.sample td {
  font-family: var(--mono); font-size: 12px; padding: 0.1rem 0.3rem; white-space: nowrap; overflow-wrap: normal;
}
table.sample tr.row-diff td { background: var(--row-diff-bg); font-weight: 600; }
.hint { margin: 0.5rem 0 0; }
.hint::before { content: "hint: "; font-weight: 600; }
.cause::before { content: "likely cause: "; font-weight: 600; }
.null { color: var(--muted); font-style: italic; }
.table-scroll { overflow-x: auto; }
table.matrix td.nodeid { font-family: var(--mono); font-size: 12.5px; word-break: break-all; }
table.matrix tr.differs td.nodeid { background: var(--differs-bg); font-weight: 600; }
table.matrix td.outcome { text-align: center; white-space: nowrap; }
.outcome-passed, .outcome-ok, .outcome-applied, .outcome-reversed { color: var(--ok); background: var(--ok-bg); }
.outcome-failed, .outcome-error { color: var(--error); background: var(--error-bg); }
.outcome-skipped, .outcome-none { color: var(--muted); }
.outcome-xfailed, .outcome-xpassed { color: var(--warning); background: var(--warning-bg); }
ul.plain { margin: 0.3rem 0; padding-left: 1.2rem; }
"""

# The page's script: plain DOM calls, no library. Report data only ever reaches the page as text.
SCRIPT = r"""
"use strict";
(function () {
  const PAGE_SIZE = 200;
  const SEARCH_DELAY_MS = 200;
  const LEVELS = ["error", "warning", "note"];
  const OUTCOMES = ["passed", "failed", "error", "skipped", "xfailed", "xpassed", "ok", "applied", "reversed"];
  // The fields of a backend's evidence, in the order the table shows them; any other comes after.
  const EVIDENCE_FIELDS = ["outcome", "message", "rows", "rowcount", "sql", "sample", "missing"];

  const report = readJson("report-data");
  const kinds = readJson("kind-data");
  const findings = report.findings || [];
  const tests = report.tests || [];
  const backendNames = (report.backends || []).map((backend) => backend.name);

  const state = {code: "", backend: "", level: "", terms: [], findingsShown: PAGE_SIZE, testsShown: PAGE_SIZE,
                 onlyDiffering: false};
  const openFindings = new Set();
  let haystacks = null;  // each finding's searchable text, built at the first search

  function readJson(id) {
    return JSON.parse(document.getElementById(id).textContent);
  }

  function byId(id) {
    return document.getElementById(id);
  }

  // h("td", {className: "x"}, "text", node, ...): strings become text nodes, never markup.
  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "className") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function number(value) {
    return Number(value).toLocaleString("en");
  }

  function seconds(value) {
    return value === null || value === undefined || !Number.isFinite(Number(value))
      ? "-" : Number(value).toFixed(1) + "s";
  }

  function plural(count, word) {
    return number(count) + " " + word + (count === 1 ? "" : "s");
  }

  function levelClass(level) {
    return LEVELS.includes(level) ? "level-" + level : "";
  }

  function outcomeClass(outcome) {
    return OUTCOMES.includes(outcome) ? "outcome-" + outcome : "";
  }

  // A value of the report as text: strings as they are, anything else as JSON.
  function text(value) {
    if (value === null || value === undefined) return "null";
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  function valueNode(value) {
    if (value === null || value === undefined) return h("span", {className: "null"}, "null");
    if (typeof value === "object") return h("pre", null, JSON.stringify(value, null, 2));
    return String(value);
  }

  // Backend names in the report's order, then any other (e.g. `models`), as they come.
  function orderedBackends(names) {
    const known = backendNames.filter((name) => names.includes(name));
    return known.concat(names.filter((name) => !backendNames.includes(name)));
  }

  function where(finding) {
    const location = finding.location;
    if (!location || !location.path) return "";
    return location.path + (location.line ? ":" + location.line : "");
  }

  // ---- header, summary and backends -------------------------------------------------------------

  function renderHeader() {
    const tool = report.tool || {};
    byId("meta").append(
      h("span", null, (tool.name || "portability") + " " + (tool.version || "")),
      h("span", null, "generated " + (report.generated_at || "?")),
      h("span", null, "exit code " + text(report.exit_code)),
      report.hash_seed === null || report.hash_seed === undefined ? null
        : h("span", null, "PYTHONHASHSEED " + report.hash_seed),
    );
    if (report.partial) {
      byId("banner").append(h("div", {className: "banner partial"},
        "PARTIAL: some backend's results stop before its run finished; these results cover only part of it."));
    }
    const counts = {};
    for (const finding of findings) counts[finding.level] = (counts[finding.level] || 0) + 1;
    const chips = byId("summary");
    chips.append(h("span", {className: "chip"}, plural(findings.length, "finding")));
    for (const level of LEVELS) {
      if (counts[level]) chips.append(h("span", {className: "chip " + levelClass(level)}, counts[level] + " " + level));
    }
    if (tests.length) chips.append(h("span", {className: "chip"}, plural(tests.length, "test")));
  }

  function renderBackends() {
    const backends = report.backends || [];
    const countKeys = [];
    for (const backend of backends) {
      for (const key of Object.keys(backend.counts || {})) if (!countKeys.includes(key)) countKeys.push(key);
    }
    const head = h("tr", null, h("th", null, "backend"), h("th", null, "server"), h("th", null, "status"),
      countKeys.map((key) => h("th", null, key)), h("th", null, "time"));
    const rows = backends.map((backend) => {
      const counts = backend.counts || {};
      const ran = Object.keys(counts).length > 0;
      const server = [backend.product, backend.version].filter(Boolean).join(" ") || backend.vendor || "";
      return h("tr", {dataset: {backend: backend.name}},
        h("td", {className: "name"}, backend.name), h("td", null, server),
        h("td", {className: backend.status === "ran" ? "outcome-passed" : "outcome-failed"}, backend.status),
        countKeys.map((key) => h("td", {className: "num"}, ran ? text(counts[key] || 0) : "-")),
        h("td", {className: "num"}, seconds(backend.duration)));
    });
    byId("backends-table").append(h("thead", null, head), h("tbody", null, rows));
    const reasons = backends.filter((backend) => backend.reason).map((backend) =>
      h("li", null, backend.name + ": " + backend.status + " at " + backend.url + ": " + backend.reason));
    if (reasons.length) byId("backends").append(h("ul", {className: "plain"}, reasons));
    const warnings = report.warnings || [];
    if (warnings.length) {
      byId("backends").append(h("h3", null, "Warnings of the harness itself"), h("ul", {className: "plain"},
        warnings.map((warning) => h("li", null, (warning.backend ? warning.backend + ": " : "") +
          text(warning.message)))));
    }
  }

  // ---- findings ---------------------------------------------------------------------------------

  // Findings grouped by code: errors first, then warnings, then notes; by code within a level.
  const groups = (function () {
    const byCode = new Map();
    findings.forEach((finding, index) => {
      if (!byCode.has(finding.code)) {
        byCode.set(finding.code, {code: finding.code, kind: finding.kind, level: finding.level, indexes: []});
      }
      const group = byCode.get(finding.code);
      group.indexes.push(index);
      if (LEVELS.indexOf(finding.level) < LEVELS.indexOf(group.level)) group.level = finding.level;
    });
    const rank = (level) => (LEVELS.includes(level) ? LEVELS.indexOf(level) : LEVELS.length);
    return Array.from(byCode.values()).sort((a, b) => rank(a.level) - rank(b.level) || (a.code < b.code ? -1 : 1));
  })();

  function fillSelect(select, entries) {
    for (const [value, label] of entries) select.append(h("option", {value: value}, label));
  }

  function setUpFilters() {
    fillSelect(byId("filter-code"), [["", "all codes"]].concat(
      groups.map((group) => [group.code, group.code + " " + group.kind + " (" + number(group.indexes.length) + ")"])));
    const concerned = new Set();
    for (const finding of findings) for (const name of Object.keys(finding.backends || {})) concerned.add(name);
    fillSelect(byId("filter-backend"), [["", "all backends"]].concat(
      orderedBackends(Array.from(concerned)).map((name) => [name, name])));
    const levels = LEVELS.filter((level) => findings.some((finding) => finding.level === level));
    fillSelect(byId("filter-level"), [["", "all levels"]].concat(levels.map((level) => [level, level])));

    for (const [id, key] of [["filter-code", "code"], ["filter-backend", "backend"], ["filter-level", "level"]]) {
      byId(id).addEventListener("change", (event) => {
        state[key] = event.target.value;
        state.findingsShown = PAGE_SIZE;
        renderFindings();
      });
    }
    let timer = null;
    const search = byId("search");
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(applySearch, SEARCH_DELAY_MS);
    });
    search.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { clearTimeout(timer); applySearch(); }
    });
    byId("reset").addEventListener("click", () => {
      for (const id of ["filter-code", "filter-backend", "filter-level"]) byId(id).value = "";
      search.value = "";
      Object.assign(state, {code: "", backend: "", level: "", terms: []});
      state.findingsShown = state.testsShown = PAGE_SIZE;
      renderFindings();
      renderMatrix();
    });
    byId("findings-more").addEventListener("click", () => {
      state.findingsShown += PAGE_SIZE;
      renderFindings();
    });
  }

  function applySearch() {
    state.terms = byId("search").value.toLowerCase().split(/\s+/).filter(Boolean);
    state.findingsShown = state.testsShown = PAGE_SIZE;
    renderFindings();
    renderMatrix();
  }

  function showTestFindings(nodeid) {
    byId("search").value = nodeid;
    applySearch();
    byId("findings").scrollIntoView();
  }

  // Every string and number in a finding, lower-cased: what the search box looks in.
  function haystack(value, parts) {
    if (value === null || value === undefined) return parts;
    if (typeof value === "object") {
      for (const item of Object.values(value)) haystack(item, parts);
    } else {
      parts.push(String(value).toLowerCase());
    }
    return parts;
  }

  function matchesTerms(textValue) {
    return state.terms.every((term) => textValue.includes(term));
  }

  function findingMatches(index) {
    const finding = findings[index];
    if (state.code && finding.code !== state.code) return false;
    if (state.level && finding.level !== state.level) return false;
    if (state.backend && !(finding.backends && state.backend in finding.backends)) return false;
    if (!state.terms.length) return true;
    if (haystacks === null) {
      // Backend names are keys, not values: they are added so that a search for one finds its findings.
      haystacks = findings.map((item) =>
        haystack(item, Object.keys(item.backends || {}).map((name) => name.toLowerCase())).join("\n"));
    }
    return matchesTerms(haystacks[index]);
  }

  function renderFindings() {
    const list = document.createDocumentFragment();
    let matching = 0;
    let shown = 0;
    for (const group of groups) {
      const hits = group.indexes.filter(findingMatches);
      if (!hits.length) continue;
      matching += hits.length;
      if (shown >= state.findingsShown) continue;
      const kind = kinds[group.kind] || {};
      const section = h("section", {className: "group", dataset: {code: group.code}},
        h("h3", null, h("span", {className: "badge " + levelClass(group.level)}, group.level),
          h("span", null, group.code + " " + group.kind),
          h("span", {className: "muted"}, plural(hits.length, "finding"))),
        kind.summary ? h("p", {className: "summary"}, kind.summary) : null);
      for (const index of hits) {
        if (shown >= state.findingsShown) break;
        section.append(renderFinding(index));
        shown += 1;
      }
      list.append(section);
    }
    byId("findings-list").replaceChildren(list);
    const section = byId("findings");
    section.dataset.matching = matching;
    section.dataset.shown = shown;
    let status;
    if (!findings.length) status = "No findings: every backend behaved the same.";
    else if (!matching) status = "No finding matches the filters (" + plural(findings.length, "finding") + " in all).";
    else status = "Showing " + number(shown) + " of " + number(matching) + " matching finding" +
      (matching === 1 ? "" : "s") + " (" + number(findings.length) + " in all).";
    byId("findings-status").textContent = status;
    const more = byId("findings-more");
    more.hidden = shown >= matching;
    more.textContent = "Show " + number(Math.min(PAGE_SIZE, matching - shown)) + " more";
  }

  function renderFinding(index) {
    const finding = findings[index];
    const location = where(finding);
    const summary = h("summary", null,
      h("span", {className: "badge " + levelClass(finding.level)}, finding.level), " ",
      h("span", {className: "code"}, finding.code), " ",
      h("span", {className: "message"}, finding.message),
      finding.test || location ? h("span", {className: "where"},
        [finding.test, location && location !== finding.test ? location : null].filter(Boolean).join(" · ")) : null);
    const details = h("details", {className: "finding " + levelClass(finding.level), dataset: {index: index}}, summary);
    // The body is built the first time the finding is opened: thousands of closed findings stay cheap.
    details.addEventListener("toggle", () => {
      if (details.open) {
        openFindings.add(index);
        if (!details.querySelector(".body")) details.append(renderFindingBody(finding));
      } else {
        openFindings.delete(index);
      }
    });
    if (openFindings.has(index)) details.open = true;
    return details;
  }

  function renderFindingBody(finding) {
    const detailsData = finding.details || {};
    const facts = [["kind", finding.kind + (kinds[finding.kind] ? ": " + kinds[finding.kind].summary : "")]];
    if (finding.test) facts.push(["test", finding.test]);
    if (where(finding)) facts.push(["location", where(finding)]);
    facts.push(["message", finding.message]);
    const shown = new Set(["cause", "hint", "query", "code", "severity"]);
    for (const [key, value] of Object.entries(detailsData)) {
      if (shown.has(key) || value === "" || value === null) continue;
      facts.push([key, value]);
    }
    const body = h("div", {className: "body"},
      h("dl", {className: "facts"}, facts.map(([key, value]) => [h("dt", null, key), h("dd", null, valueNode(value))])),
      detailsData.cause ? h("p", {className: "cause"}, detailsData.cause) : null,
      h("h4", null, "Evidence per backend"),
      evidenceTable(finding.backends || {}));
    const query = detailsData.query;
    if (query) {
      body.append(
        h("h4", null, "First differing query" + (query.site ? ", at " + query.site : "")),
        query.message ? h("p", null, query.message) : null,
        query.cause ? h("p", {className: "cause"}, query.cause) : null,
        evidenceTable(query.backends || {}),
        query.hint ? h("p", {className: "hint"}, query.hint) : null);
    }
    body.append(h("p", {className: "hint"}, finding.hint || ""));
    return body;
  }

  // The evidence of every backend side by side: one column per backend, one row per field; a field whose
  // value is not the same everywhere is highlighted, and so is each value that is not the most common one.
  function evidenceTable(backends) {
    const names = orderedBackends(Object.keys(backends));
    const fields = EVIDENCE_FIELDS.filter((field) => names.some((name) => field in backends[name]));
    for (const name of names) {
      for (const field of Object.keys(backends[name])) {
        if (!fields.includes(field) && field !== "columns") fields.push(field);
      }
    }
    const rows = fields.map((field) => {
      const values = names.map((name) => JSON.stringify(backends[name][field]));
      const tally = {};
      for (const value of values) tally[value] = (tally[value] || 0) + 1;
      const common = Object.keys(tally).sort((a, b) => tally[b] - tally[a])[0];
      const differs = Object.keys(tally).length > 1;
      return h("tr", {className: differs ? "differs" : null, dataset: {field: field}},
        h("th", {className: "field"}, field === "sql" ? "SQL" : field),
        names.map((name, column) => h("td", {
          className: differs && values[column] !== common ? "diff" : null, dataset: {backend: name},
        }, evidenceCell(field, backends, name))));
    });
    return h("div", {className: "table-scroll"}, h("table", {className: "evidence"},
      h("thead", null, h("tr", null, h("th", {className: "field"}), names.map((name) => h("th", null, name)))),
      h("tbody", null, rows)));
  }

  function evidenceCell(field, backends, name) {
    const value = backends[name][field];
    if (value === undefined) return h("span", {className: "null"}, "—");
    if (field === "sql") return value ? h("pre", {className: "sql"}, value) : h("span", {className: "null"}, "no SQL");
    if (field === "outcome") return h("span", {className: outcomeClass(value)}, value || "—");
    if (field === "sample" && Array.isArray(value)) return sampleTable(backends, name);
    if (field === "missing" && Array.isArray(value)) {
      return h("ul", {className: "plain"}, value.map((item) => h("li", null, item)));
    }
    return valueNode(value);
  }

  // A backend's first rows; a row missing from some other backend's sample is highlighted.
  function sampleTable(backends, name) {
    const evidence = backends[name];
    const others = Object.keys(backends).filter((other) => other !== name && Array.isArray(backends[other].sample))
      .map((other) => new Set(backends[other].sample.map((row) => JSON.stringify(row))));
    const columns = evidence.columns || [];
    return h("div", {className: "sample-scroll"}, h("table", {className: "sample"},
      columns.length ? h("thead", null, h("tr", null, columns.map((column) => h("th", null, column)))) : null,
      h("tbody", null, evidence.sample.map((row) => {
        const key = JSON.stringify(row);
        const cells = Array.isArray(row) ? row : [row];
        return h("tr", {className: others.some((set) => !set.has(key)) ? "row-diff" : null},
          cells.map((cell) => h("td", {className: cell === null ? "null" : null}, text(cell))));
      }))));
  }

  // ---- tests × backends matrix ------------------------------------------------------------------

  const matrixBackends = (function () {
    const seen = new Set();
    for (const test of tests) for (const name of Object.keys(test.outcomes || {})) seen.add(name);
    return {columns: orderedBackends(backendNames.concat(Array.from(seen).filter((n) => !backendNames.includes(n)))),
            ran: seen};
  })();

  // A test differs when the backends that ran tests do not all give it the same outcome (not running it counts).
  const testDiffers = tests.map((test) => {
    const outcomes = new Set();
    for (const name of matrixBackends.ran) outcomes.add((test.outcomes || {})[name] || "not run");
    return outcomes.size > 1;
  });

  const findingsPerTest = (function () {
    const counts = new Map();
    for (const finding of findings) if (finding.test) counts.set(finding.test, (counts.get(finding.test) || 0) + 1);
    return counts;
  })();

  function setUpMatrix() {
    byId("only-differing").addEventListener("change", (event) => {
      state.onlyDiffering = event.target.checked;
      state.testsShown = PAGE_SIZE;
      renderMatrix();
    });
    byId("matrix-more").addEventListener("click", () => {
      state.testsShown += PAGE_SIZE;
      renderMatrix();
    });
    byId("matrix-table").append(h("thead", null, h("tr", null, h("th", null, "test"),
      matrixBackends.columns.map((name) => h("th", null, name)), h("th", null, "findings"))), h("tbody"));
  }

  function renderMatrix() {
    const body = document.createDocumentFragment();
    let matching = 0;
    let shown = 0;
    tests.forEach((test, index) => {
      if (state.onlyDiffering && !testDiffers[index]) return;
      if (state.terms.length && !matchesTerms(test.nodeid.toLowerCase())) return;
      matching += 1;
      if (shown >= state.testsShown) return;
      shown += 1;
      const count = findingsPerTest.get(test.nodeid) || 0;
      body.append(h("tr", {className: testDiffers[index] ? "differs" : null},
        h("td", {className: "nodeid"}, test.nodeid),
        matrixBackends.columns.map((name) => {
          const outcome = (test.outcomes || {})[name];
          return h("td", {className: "outcome " + (outcome ? outcomeClass(outcome) : "outcome-none"),
                          dataset: {backend: name}}, outcome || "—");
        }),
        h("td", {className: "num"}, count ? h("button", {className: "link", type: "button",
          title: "show this test's findings", onclick: () => showTestFindings(test.nodeid)}, String(count)) : "")));
    });
    byId("matrix-table").tBodies[0].replaceChildren(body);
    const section = byId("matrix");
    section.dataset.matching = matching;
    section.dataset.shown = shown;
    const differing = testDiffers.filter(Boolean).length;
    byId("matrix-status").textContent = !tests.length
      ? "No tests in this report (a `portability migrations` report, or no test ran)."
      : "Showing " + number(shown) + " of " + number(matching) + " matching test" + (matching === 1 ? "" : "s") +
        " (" + number(tests.length) + " in all, " + number(differing) + " with outcomes that differ).";
    byId("matrix-table").hidden = !shown;
    const more = byId("matrix-more");
    more.hidden = shown >= matching;
    more.textContent = "Show " + number(Math.min(PAGE_SIZE, matching - shown)) + " more";
  }

  renderHeader();
  renderBackends();
  setUpFilters();
  setUpMatrix();
  renderFindings();
  renderMatrix();
  // For tests and the curious: when the page became usable, in ms since navigation started.
  window.portabilityReadyMs = performance.now();
  document.documentElement.dataset.ready = "1";
})();
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header>
<h1>Portability report</h1>
<p class="meta" id="meta"></p>
<div id="banner"></div>
<div class="chips" id="summary"></div>
<nav class="toc">
<a href="#backends">Backends</a><a href="#findings">Findings</a><a href="#matrix">Tests × backends</a>
</nav>
</header>
<section id="backends">
<h2>Backends</h2>
<div class="table-scroll"><table id="backends-table"></table></div>
</section>
<section id="findings">
<h2>Findings</h2>
<div class="toolbar" role="search">
<label>Search findings and tests
<input id="search" type="search" placeholder="message, test, path, SQL, backend…" autocomplete="off"></label>
<label>Code <select id="filter-code"></select></label>
<label>Backend <select id="filter-backend"></select></label>
<label>Level <select id="filter-level"></select></label>
<button id="reset" type="button">Reset</button>
</div>
<p class="status" id="findings-status" aria-live="polite"></p>
<div id="findings-list"></div>
<button class="more" id="findings-more" type="button" hidden>Show more</button>
</section>
<section id="matrix">
<h2>Tests × backends</h2>
<div class="toolbar"><label class="check"><input id="only-differing" type="checkbox"> only tests whose outcomes differ
</label></div>
<p class="status" id="matrix-status" aria-live="polite"></p>
<div class="table-scroll"><table class="matrix" id="matrix-table"></table></div>
<button class="more" id="matrix-more" type="button" hidden>Show more</button>
</section>
<script type="application/json" id="kind-data">{kinds}</script>
<script type="application/json" id="report-data">"""

PAGE_END = """</script>
<script>{script}</script>
</body>
</html>
"""

# What a page of report data may hold: nothing that could end its <script> element or start markup.
JSON_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def _digest(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


# Only this page's own style and script may run, and nothing may be fetched (the report is one file, offline).
CSP = (
    f"default-src 'none'; script-src {_digest(SCRIPT)}; style-src {_digest(STYLE)}; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_non_finite(item) for item in value)
    return False


def _finite(value: Any) -> Any:
    """The value with NaN and infinities as strings: JSON.parse refuses the bare words json writes for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _json_chunks(data: Any) -> Any:
    """The data as JSON for a <script> element, a piece at a time (a large report is never one string)."""
    encoder = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))
    for chunk in encoder.iterencode(_finite(data) if _has_non_finite(data) else data):
        yield chunk.translate(JSON_ESCAPES)


def _title(report: dict[str, Any]) -> str:
    findings = len(report.get("findings") or [])
    when = report.get("generated_at") or ""
    what = f"{findings} finding{'' if findings == 1 else 's'}"
    return f"Portability report: {what}" + (f" ({when})" if when else "")


def write(path: Path, report: dict[str, Any]) -> None:
    kinds = {
        name: {"code": kind.code, "level": kind.level, "summary": kind.summary, "hint": kind.hint}
        for name, kind in KINDS.items()
    }
    head = PAGE.format(
        csp=html.escape(CSP),
        title=html.escape(_title(report)),
        style=STYLE,
        kinds="".join(_json_chunks(kinds)),
    )
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(head)
        for chunk in _json_chunks(report):
            handle.write(chunk)
        handle.write(PAGE_END.format(script=SCRIPT))
