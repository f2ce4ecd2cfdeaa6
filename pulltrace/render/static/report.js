"use strict";
// pulltrace report behaviour: paging of long step tables (pages after the first
// wait in <template>s until shown), following anchors into hidden pages and
// closed details, expand/collapse, and a filter. No network.
(function () {
  function pageOf(node) { return Number(node.getAttribute("data-page")); }

  // The <tbody> of page n, built from its template the first time it is needed.
  function materialise(table, n) {
    var tbody = table.querySelector("tbody.page[data-page='" + n + "']");
    if (tbody) { return tbody; }
    var tpl = table.querySelector("template.page-src[data-page='" + n + "']");
    if (!tpl) { return null; }
    tbody = tpl.content.querySelector("tbody.page").cloneNode(true);
    tpl.parentNode.insertBefore(tbody, tpl);
    return tbody;
  }

  function pageCount(table) {
    // The first page is built; each later one has a template (kept after it is built).
    return 1 + table.querySelectorAll("template.page-src").length;
  }

  function showPage(table, n) {
    materialise(table, n);
    table.querySelectorAll("tbody.page").forEach(function (tb) { tb.hidden = pageOf(tb) !== n; });
    var pager = table.closest("section").querySelector("nav.pager");
    if (pager) {
      pager.querySelectorAll("button[data-page]").forEach(function (b) {
        if (pageOf(b) === n) { b.setAttribute("aria-current", "page"); }
        else { b.removeAttribute("aria-current"); }
      });
    }
  }

  function showAll(table) {
    var total = pageCount(table);
    for (var n = 1; n <= total; n += 1) { materialise(table, n).hidden = false; }
  }

  function buildPager(table) {
    var total = pageCount(table);
    if (total < 2) { return; }
    var pager = table.closest("section").querySelector("nav.pager");
    for (var n = 1; n <= total; n += 1) {
      var b = document.createElement("button");
      b.type = "button";
      b.setAttribute("data-page", String(n));
      b.textContent = String(n);
      b.addEventListener("click", function (ev) { showPage(table, pageOf(ev.currentTarget)); });
      pager.appendChild(b);
    }
    pager.hidden = false;
    showPage(table, 1);
  }

  function find(id) {
    var el = document.getElementById(id);
    if (el) { return el; }
    var templates = document.querySelectorAll("template.page-src");
    for (var i = 0; i < templates.length; i += 1) {
      if (templates[i].content.getElementById(id)) {
        var table = templates[i].closest("table");
        showPage(table, pageOf(templates[i]));
        return document.getElementById(id);
      }
    }
    return null;
  }

  function reveal(id) {
    if (!id) { return; }
    var el = find(id);
    if (!el) { return; }
    var tbody = el.closest("tbody.page");
    if (tbody && tbody.hidden) { showPage(tbody.closest("table"), pageOf(tbody)); }
    var details = el.closest("details");
    if (details) { details.open = true; }
    // A row is centred; a section or the contents start at the top, where their heading is.
    el.scrollIntoView({ block: el.matches("tr") ? "center" : "start" });
    el.classList.add("flash");
    window.setTimeout(function () { el.classList.remove("flash"); }, 1600);
  }

  function setAll(open) {
    document.querySelectorAll("tbody.page:not([hidden]) details.full").forEach(function (d) { d.open = open; });
  }

  // Fills a catalogue message ("{n} of {m} steps shown") kept in a data attribute, so the
  // script needs no strings of its own in either language.
  function message(template, fields) {
    return template.replace(/\{(\w+)\}/g, function (all, key) {
      return Object.prototype.hasOwnProperty.call(fields, key) ? String(fields[key]) : all;
    });
  }

  function filter(text) {
    var needle = text.trim().toLowerCase();
    var shown = 0;
    var total = 0;
    var count = document.getElementById("filter-count");
    document.querySelectorAll("table.steps").forEach(function (table) {
      var matches = 0;
      if (needle) { showAll(table); }
      table.querySelectorAll("tbody.page").forEach(function (tb) {
        tb.querySelectorAll("tr.step").forEach(function (row) {
          var detail = row.nextElementSibling;
          var hay = row.textContent + " " + (detail ? detail.textContent : "");
          var hide = needle !== "" && hay.toLowerCase().indexOf(needle) === -1;
          row.classList.toggle("filtered", hide);
          if (detail) { detail.classList.toggle("filtered", hide); }
          total += 1;
          if (!hide) { matches += 1; }
        });
      });
      shown += matches;
      if (!needle && pageCount(table) > 1) { showPage(table, 1); }
      var none = table.closest("section").querySelector("p.no-match");
      if (none && count) {
        none.textContent = message(count.getAttribute("data-none"), { q: text.trim() });
        none.hidden = !needle || matches > 0;
      }
    });
    if (count) {
      count.textContent = message(count.getAttribute("data-shown"), { n: shown, m: total });
      count.hidden = !needle;
    }
  }

  document.querySelectorAll("table.steps").forEach(buildPager);
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest ? ev.target.closest("a[href^='#']") : null;
    if (!a) { return; }
    var id = decodeURIComponent(a.getAttribute("href").slice(1));
    if (find(id)) {
      ev.preventDefault();
      if (window.location.hash !== "#" + id) { history.pushState(null, "", "#" + id); }
      reveal(id);
    }
  });
  window.addEventListener("hashchange", function () { reveal(decodeURIComponent(window.location.hash.slice(1))); });
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("table.steps").forEach(showAll);
  });
  var expand = document.getElementById("expand-all");
  var collapse = document.getElementById("collapse-all");
  if (expand) { expand.addEventListener("click", function () { setAll(true); }); }
  if (collapse) { collapse.addEventListener("click", function () { setAll(false); }); }
  var box = document.getElementById("filter");
  var timer = null;
  if (box) {
    box.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { filter(box.value); }, 150);
    });
  }
  if (window.location.hash) { reveal(decodeURIComponent(window.location.hash.slice(1))); }
}());
