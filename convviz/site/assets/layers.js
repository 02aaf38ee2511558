/* convviz layer browser: pick a layer and a test image, see every channel of that layer
   for that image, each channel numbered and, where its layer has unit pages, linked to its
   unit. Reads the browser.json a link of class "convviz-layers" points to: per layer its
   unit page's URL (relative to browser.json; null: none) and the mosaic's geometry. */
(function () {
  "use strict";
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function Browser(link) {
    var self = this;
    this.url = new URL(link.getAttribute("href"), document.baseURI);
    this.root = el("div", "convviz-layers-widget");
    this.root.setAttribute("role", "group");
    this.root.setAttribute("aria-label", "Layer browser");
    link.replaceWith(this.root);
    fetch(this.url)
      .then(function (r) { if (!r.ok) throw new Error(r.status + " " + r.statusText); return r.json(); })
      .then(function (d) { self.init(d); })
      .catch(function (e) { self.root.textContent = "The layer browser could not load its data: " + e.message; });
  }

  Browser.prototype.file = function (name) { return new URL(name, this.url).href; };

  Browser.prototype.init = function (d) {
    var self = this;
    this.d = d;
    this.layer = 0;
    this.image = 0;
    var bar = el("div", "convviz-layers-bar");
    var prev = el("button", "md-button convviz-layers-step", "◀");
    var next = el("button", "md-button convviz-layers-step", "▶");
    prev.title = "previous layer (←)";
    next.title = "next layer (→)";
    this.select = el("select", "convviz-layers-select");
    this.select.setAttribute("aria-label", "layer");
    d.layers.forEach(function (l, i) {
      var o = el("option", "", (i + 1) + ". " + l.name + " — " + l.shape.join("×"));
      o.value = String(i);
      self.select.appendChild(o);
    });
    this.select.addEventListener("change", function () { self.show(+self.select.value, self.image); });
    prev.addEventListener("click", function () { self.show(Math.max(0, self.layer - 1), self.image); });
    next.addEventListener("click", function () { self.show(Math.min(d.layers.length - 1, self.layer + 1), self.image); });
    bar.append(prev, this.select, next);
    this.thumbs = el("div", "convviz-layers-images");
    d.images.forEach(function (im, k) {
      var b = el("button", "convviz-layers-thumb");
      var img = el("img");
      img.src = self.file("i" + k + ".png");
      img.alt = "test image " + (k + 1) + ": " + (im.label === null ? "no label" : im.label) + ", predicted " + im.pred;
      b.title = img.alt;
      b.appendChild(img);
      b.addEventListener("click", function () { self.show(self.layer, k); });
      self.thumbs.appendChild(b);
    });
    this.info = el("p", "convviz-layers-info");
    this.hint = el("p", "convviz-layers-hint");
    this.mosaic = el("img", "convviz-layers-mosaic");
    this.cells = el("div", "convviz-layers-cells");
    var stage = el("div", "convviz-layers-stage");
    stage.append(this.mosaic, this.cells);
    this.root.append(bar, this.thumbs, this.info, stage, this.hint);
    window.addEventListener("resize", function () { self.fit(); });
    this.mosaic.addEventListener("load", function () { self.fit(); });
    this.root.tabIndex = 0;
    this.root.addEventListener("keydown", function (e) {
      if (e.key === "ArrowRight") { self.show(Math.min(d.layers.length - 1, self.layer + 1), self.image); e.preventDefault(); }
      if (e.key === "ArrowLeft") { self.show(Math.max(0, self.layer - 1), self.image); e.preventDefault(); }
    });
    this.root.convviz = this;
    (window.convvizLayerBrowsers = window.convvizLayerBrowsers || []).push(this);
    this.show(0, 0);
    this.root.dataset.ready = "1";
  };

  Browser.prototype.show = function (layer, image) {
    var d = this.d, l = d.layers[layer], im = d.images[image];
    this.layer = layer;
    this.image = image;
    this.select.value = String(layer);
    Array.prototype.forEach.call(this.thumbs.children, function (b, k) { b.setAttribute("aria-pressed", k === image ? "true" : "false"); });
    var text = l.name + ": " + l.shape.join("×") + ", " + l.shape[2] + " channels" +
      (l.shown < l.shape[2] ? " (first " + l.shown + " shown)" : "") + ", " + l.blank[image] + " blank for image " + (image + 1) +
      " (" + (im.label === null ? "no label" : im.label) + ", predicted " + im.pred + ")";
    this.info.textContent = text;
    this.mosaic.src = this.file("a" + image + "_" + layer + ".png");
    this.mosaic.alt = "Every channel of " + text;
    if (this.cellsOf !== layer) this.place(layer);
  };

  // a cell over each channel of the layer's mosaic, placed in percent of the mosaic (it
  // scales with the image), numbered; a link to the channel's unit where the layer has a unit page
  Browser.prototype.place = function (layer) {
    var l = this.d.layers[layer], g = l.grid, cells = this.cells;
    this.cellsOf = layer;
    cells.textContent = "";
    if (!g) return;
    var H = (g.tile[0] + g.margin) * g.rows - g.margin, W = (g.tile[1] + g.margin) * g.cols - g.margin;
    var pages = l.units ? new URL(l.units, this.url).href : null;
    for (var c = 0; c < l.shown; c++) {
      var r = Math.floor(c / g.cols), q = c % g.cols;
      var cell = el(pages ? "a" : "span", "convviz-layers-cell");
      cell.style.left = (100 * q * (g.tile[1] + g.margin) / W) + "%";
      cell.style.top = (100 * r * (g.tile[0] + g.margin) / H) + "%";
      cell.style.width = (100 * g.tile[1] / W) + "%";
      cell.style.height = (100 * g.tile[0] / H) + "%";
      cell.title = "channel " + c + (pages ? ": open unit " + c + " of " + l.name : "");
      if (pages) { cell.href = pages + "#unit-" + c; cell.setAttribute("aria-label", cell.title); }
      cell.appendChild(el("span", "convviz-layers-num", String(c)));
      cells.appendChild(cell);
    }
    this.hint.textContent = pages ? "Each channel is numbered; click one to see its unit: its feature visualization and the test images that excite it most."
      : "Each channel is numbered. This layer has no unit pages" + (/Pooling/.test(l.kind || "")
        ? ": a pooling layer's channels are the units of the conv layer before it, subsampled."
        : " (its model lists the layers that get them under units: in its zoo entry).");
    this.fit();
  };

  // numbers only where a channel's tile is large enough to hold one (else on hover)
  Browser.prototype.fit = function () {
    var g = this.d && this.d.layers[this.layer].grid;
    if (!g) return;
    var tile = this.mosaic.clientWidth / g.cols;
    this.cells.classList.toggle("convviz-layers-cells--small", tile > 0 && tile < 26);
  };

  function start() {
    document.querySelectorAll("a.convviz-layers").forEach(function (a) { new Browser(a); });
  }
  if (window.document$ && window.document$.subscribe) window.document$.subscribe(start);
  else if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
