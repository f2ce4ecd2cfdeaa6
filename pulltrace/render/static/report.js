"use strict";
// pulltrace report behaviour: paging of long step tables, following anchors into
// hidden pages and closed details, expand/collapse, and a filter. No network.
(function () {
  function pageOf(tbody) { return Number(tbody.getAttribute("data-page")); }

  function showPage(table, n) {
    var pages = table.querySelectorAll("tbody.page");
    pages.forEach(function (tb) { tb.hidden = pageOf(tb) !== n; });
    var pager = table.closest("section").querySelector("nav.pager");
    if (pager) {
      pager.querySelectorAll("button[data-page]").forEach(function (b) {
        if (Number(b.getAttribute("data-page")) === n) { b.setAttribute("aria-current", "page"); }
        else { b.removeAttribute("aria-current"); }
      });
    }
  }

  function buildPager(table) {
    var pages = table.querySelectorAll("tbody.page");
    if (pages.length < 2) { return; }
    var pager = table.closest("section").querySelector("nav.pager");
    pages.forEach(function (tb) {
      var b = document.createElement("button");
      b.type = "button";
      b.setAttribute("data-page", tb.getAttribute("data-page"));
      b.textContent = tb.getAttribute("data-page");
      b.addEventListener("click", function () { showPage(table, pageOf(tb)); });
      pager.appendChild(b);
    });
    pager.hidden = false;
    showPage(table, 1);
  }

  function reveal(id) {
    if (!id) { return; }
    var el = document.getElementById(id);
    if (!el) { return; }
    var tbody = el.closest("tbody.page");
    if (tbody && tbody.hidden) { showPage(tbody.closest("table"), pageOf(tbody)); }
    var details = el.closest("details");
    if (details) { details.open = true; }
    el.scrollIntoView({ block: "center" });
    el.classList.add("flash");
    window.setTimeout(function () { el.classList.remove("flash"); }, 1600);
  }

  function setAll(open) {
    document.querySelectorAll("tbody.page:not([hidden]) details.full").forEach(function (d) { d.open = open; });
  }

  function filter(text) {
    var needle = text.trim().toLowerCase();
    document.querySelectorAll("table.steps").forEach(function (table) {
      var pages = table.querySelectorAll("tbody.page");
      pages.forEach(function (tb) {
        if (needle) { tb.hidden = false; }
        tb.querySelectorAll("tr.step").forEach(function (row) {
          var detail = row.nextElementSibling;
          var hay = row.textContent + " " + (detail ? detail.textContent : "");
          var hide = needle !== "" && hay.toLowerCase().indexOf(needle) === -1;
          row.classList.toggle("filtered", hide);
          if (detail) { detail.classList.toggle("filtered", hide); }
        });
      });
      if (!needle && pages.length > 1) { showPage(table, 1); }
    });
  }

  document.querySelectorAll("table.steps").forEach(buildPager);
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest ? ev.target.closest("a[href^='#']") : null;
    if (!a) { return; }
    var id = decodeURIComponent(a.getAttribute("href").slice(1));
    if (document.getElementById(id)) {
      ev.preventDefault();
      if (window.location.hash !== "#" + id) { history.pushState(null, "", "#" + id); }
      reveal(id);
    }
  });
  window.addEventListener("hashchange", function () { reveal(decodeURIComponent(window.location.hash.slice(1))); });
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("tbody.page").forEach(function (tb) { tb.hidden = false; });
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
