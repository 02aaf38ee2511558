/* convviz unit pages: sort and filter a layer's table of units (table.cv-unit-table).
   Click a column's header to sort by it (again: the other way), pick a preferred class,
   hide the dead units. Every value is read from the table itself (data-value, data-class,
   data-dead); without this script the table stays as written, in unit order. */
(function () {
  "use strict";
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function key(row, col) {
    var cell = row.cells[col];
    var v = cell.getAttribute("data-value");
    return v === null ? cell.textContent : v;
  }

  // a before b when ascending; empty values last whatever the direction
  function compare(a, b, numeric) {
    if (a === "" || b === "") return a === b ? 0 : (a === "" ? 1 : -1);
    if (numeric) return parseFloat(a) - parseFloat(b);
    return a.localeCompare(b);
  }

  function UnitTable(table) {
    var self = this;
    this.table = table;
    this.body = table.tBodies[0];
    this.rows = Array.prototype.slice.call(this.body.rows);
    this.rows.forEach(function (r, i) { r.dataset.order = String(i); });
    this.headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    this.headers.forEach(function (th, col) {
      if (!th.dataset.sort) return;
      var b = el("button", "cv-sort");
      b.type = "button";
      while (th.firstChild) b.appendChild(th.firstChild);
      b.title = "sort by " + b.textContent;
      th.appendChild(b);
      b.addEventListener("click", function () { self.sort(col); });
    });
    this.tools = el("div", "cv-unit-tools");
    var label = el("label", "", "preferred class ");
    this.select = el("select", "cv-unit-class");
    this.select.appendChild(el("option", "", "all classes"));
    this.select.options[0].value = "";
    var counts = {};
    this.rows.forEach(function (r) { if (r.dataset.class) counts[r.dataset.class] = (counts[r.dataset.class] || 0) + 1; });
    Object.keys(counts).sort(function (a, b) { return a.localeCompare(b); }).forEach(function (c) {
      var o = el("option", "", c + " (" + counts[c] + ")");
      o.value = c;
      self.select.appendChild(o);
    });
    label.appendChild(this.select);
    var dead = el("label");
    this.hideDead = el("input");
    this.hideDead.type = "checkbox";
    dead.append(this.hideDead, " hide dead units");
    this.status = el("span", "cv-unit-count");
    this.status.setAttribute("aria-live", "polite");
    label.hidden = !Object.keys(counts).length;  // no labelled test images: nothing to pick
    dead.hidden = !this.rows.some(function (r) { return r.dataset.dead === "1"; });
    this.tools.append(label, dead, this.status);
    this.select.addEventListener("change", function () { self.filter(); });
    this.hideDead.addEventListener("change", function () { self.filter(); });
    var block = table.closest(".cv-unit-overview") || table;
    block.parentNode.insertBefore(this.tools, block);
    this.filter();
    table.convviz = this;
    table.dataset.ready = "1";
    (window.convvizUnitTables = window.convvizUnitTables || []).push(this);
  }

  // sort by column col: first by its data-first direction (ascending unless said), then the other way
  UnitTable.prototype.sort = function (col) {
    var th = this.headers[col];
    var current = th.getAttribute("aria-sort");
    var dir = current ? (current === "ascending" ? "descending" : "ascending") : (th.dataset.first || "ascending");
    var numeric = th.dataset.sort === "num", sign = dir === "ascending" ? 1 : -1;
    this.rows.sort(function (a, b) {
      var ka = key(a, col), kb = key(b, col);
      var c = ka === "" || kb === "" ? compare(ka, kb, numeric) : sign * compare(ka, kb, numeric);
      return c || (+a.dataset.order - +b.dataset.order);
    });
    var body = this.body;
    this.rows.forEach(function (r) { body.appendChild(r); });
    this.headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
  };

  UnitTable.prototype.filter = function () {
    var cls = this.select.value, hide = this.hideDead.checked, shown = 0;
    this.rows.forEach(function (r) {
      r.hidden = (cls !== "" && r.dataset.class !== cls) || (hide && r.dataset.dead === "1");
      if (!r.hidden) shown += 1;
    });
    this.status.textContent = shown + " of " + this.rows.length + " units shown";
  };

  // the unit numbers in table order, those shown only (for tests and readers' scripts)
  UnitTable.prototype.order = function () {
    return this.rows.filter(function (r) { return !r.hidden; }).map(function (r) { return +key(r, 0); });
  };

  function start() {
    document.querySelectorAll("table.cv-unit-table:not([data-ready])").forEach(function (t) { new UnitTable(t); });
  }
  if (window.document$ && window.document$.subscribe) window.document$.subscribe(start);
  else if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
