/* convviz embedding explorer: a zoomable scatter of a model's test images in its latent
   space. Hover a point for its image, classes and outlier score; click (or tap) it for its
   Grad-CAM, and a misclassified one's Grad-CAM for its true class too; filter by class. With
   a mouse, the wheel zooms and a drag pans; on a touch screen, one finger scrolls the page
   and two pinch-zoom and pan the plot. Reads the data.json a link of class "convviz-explorer"
   points to, and the sprite sheets beside it: no request leaves the site. Data reaches the
   page as text (textContent, attributes), never as markup. */
(function () {
  "use strict";
  // matplotlib's tab10 with its red replaced (convviz.style.CLASS_COLORS): red marks wrong predictions
  var TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#393b79", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

  var HINT = "Click or tap a point to see its Grad-CAM.";
  var TOUCH_SLOP = 10; // CSS pixels a finger may move and still tap
  // touch events handle fingers (below); a browser without them gets its touch pointers as a mouse's
  var TOUCH_EVENTS = "ontouchstart" in window;

  function classColor(k, n) {
    return n <= 10 ? TAB10[k % 10] : "hsl(" + Math.round((360 * k) / n) + ",70%,50%)";
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // Material's colors of the current scheme; --convviz-wrong is set per scheme in explorer.css
  function themeColors() {
    var s = getComputedStyle(document.body);
    function v(name, fallback) { return (s.getPropertyValue(name) || "").trim() || fallback; }
    return {
      fg: v("--md-default-fg-color", "#222"),
      bg: v("--md-default-bg-color", "#fff"),
      wrong: v("--convviz-wrong", "#c62828"),
    };
  }

  // a link whose text is data (a class name): textContent, never markup
  function textLink(text, href) {
    if (!href) return document.createTextNode(text);
    var a = el("a", "", text);
    a.href = href;
    return a;
  }

  function Explorer(link) {
    var self = this;
    this.t0 = performance.now();
    this.url = new URL(link.getAttribute("href"), document.baseURI);
    this.root = el("div", "convviz-explorer-widget");
    this.root.setAttribute("role", "group");
    this.root.setAttribute("aria-label", "Embedding explorer");
    link.replaceWith(this.root);
    this.status = el("p", "convviz-explorer-status", "Loading the embedding explorer…");
    this.root.appendChild(this.status);
    fetch(this.url)
      .then(function (r) {
        if (!r.ok) throw new Error(r.status + " " + r.statusText);
        return r.json();
      })
      .then(function (d) { self.init(d); })
      .catch(function (e) { self.status.textContent = "The embedding explorer could not load its data: " + e.message; });
  }

  Explorer.prototype.init = function (d) {
    var self = this, n = d.x.length;
    this.d = d;
    this.n = n;
    this.hidden = new Set();
    this.onlyWrong = false;
    this.selected = -1;
    this.hover = -1;
    var xmin = Math.min.apply(null, d.x), xmax = Math.max.apply(null, d.x);
    var ymin = Math.min.apply(null, d.y), ymax = Math.max.apply(null, d.y);
    var padx = (xmax - xmin || 1) * 0.04, pady = (ymax - ymin || 1) * 0.04;
    this.box = [xmin - padx, xmax + padx, ymin - pady, ymax + pady];
    this.view = { k: 1, tx: 0, ty: 0 };
    this.wrong = new Uint8Array(n);
    for (var i = 0; i < n; i++) this.wrong[i] = d.label[i] >= 0 && d.label[i] !== d.pred[i] ? 1 : 0;
    this.suspicious = new Set(d.suspicious);
    // point -> its cell in cams_true.png (the misclassified points' maps for their true class)
    this.trueCell = new Map();
    (d.true_cam || []).forEach(function (point, cell) { self.trueCell.set(point, cell); });
    this.status.remove();

    // toolbar: class filter, misclassified only, zoom
    var bar = el("div", "convviz-explorer-bar");
    var classes = el("div", "convviz-explorer-classes");
    classes.setAttribute("aria-label", "Show classes");
    d.classes.forEach(function (name, k) {
      var lab = el("label", "convviz-explorer-class");
      var box = el("input");
      box.type = "checkbox";
      box.checked = true;
      box.value = String(k);
      box.addEventListener("change", function () {
        if (box.checked) self.hidden.delete(k); else self.hidden.add(k);
        self.draw();
      });
      var dot = el("span", "convviz-explorer-dot");
      dot.style.background = classColor(k, d.classes.length);
      lab.append(box, dot, document.createTextNode(name));
      classes.appendChild(lab);
    });
    var tools = el("div", "convviz-explorer-tools");
    var wrongLab = el("label", "convviz-explorer-class");
    var wrongBox = el("input");
    wrongBox.type = "checkbox";
    wrongBox.addEventListener("change", function () { self.onlyWrong = wrongBox.checked; self.draw(); });
    wrongLab.append(wrongBox, document.createTextNode("misclassified only"));
    var zin = el("button", "md-button convviz-explorer-zoom", "+");
    var zout = el("button", "md-button convviz-explorer-zoom", "−");
    var reset = el("button", "md-button convviz-explorer-zoom", "reset");
    zin.title = "zoom in"; zout.title = "zoom out"; reset.title = "show every point";
    zin.addEventListener("click", function () { self.zoomAt(self.w / 2, self.h / 2, 1.5); });
    zout.addEventListener("click", function () { self.zoomAt(self.w / 2, self.h / 2, 1 / 1.5); });
    reset.addEventListener("click", function () { self.view = { k: 1, tx: 0, ty: 0 }; self.draw(); });
    tools.append(wrongLab, zin, zout, reset);
    bar.append(classes, tools);

    var main = el("div", "convviz-explorer-main");
    var stage = el("div", "convviz-explorer-stage");
    this.canvas = el("canvas", "convviz-explorer-canvas");
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute(
      "aria-label",
      d.method + " map of " + n + " test images of " + d.model + ", colored by class; point at or tap a dot for its image"
    );
    this.tip = el("div", "convviz-explorer-tip");
    this.tip.hidden = true;
    this.tipCanvas = el("canvas");
    this.tipText = el("div");
    this.tip.append(this.tipCanvas, this.tipText);
    stage.append(this.canvas, this.tip);
    this.panel = el("div", "convviz-explorer-panel");
    this.panel.setAttribute("aria-live", "polite");
    this.panel.appendChild(el("p", "convviz-explorer-hint", HINT));
    main.append(stage, this.panel);
    var legend = el(
      "p",
      "convviz-explorer-legend",
      n + (d.of > n ? " of " + d.of : "") + " test images, " + d.method + " of the features before the last layer" +
        (d.trustworthiness !== null ? " (trustworthiness " + d.trustworthiness.toFixed(3) + ")" : "") +
        ". Red ring: misclassified" +
        (d.score ? "; thick ring: among the most suspicious (outlier score)" : " (" + d.outliers_skipped + ")") +
        ". Scroll or use +/− to zoom, " +
        "drag to pan; on a touch screen, pinch to zoom and drag with two fingers to pan."
    );
    this.root.append(bar, main, legend);

    this.sprites = {};
    var sheets = d.cams_true ? ["images", "cams", "cams_true"] : ["images", "cams"];
    var pending = sheets.length;
    sheets.forEach(function (key) {
      var img = new Image();
      img.onload = function () { if (--pending === 0) self.draw(); };
      img.onerror = function () { self.panel.textContent = "The explorer's images could not load."; };
      img.src = new URL(d[key], self.url).href;
      self.sprites[key] = img;
    });

    this.bind();
    this.resize();
    new ResizeObserver(function () { self.resize(); }).observe(stage);
    new MutationObserver(function () { self.draw(); }).observe(document.body, {
      attributes: true,
      attributeFilter: ["data-md-color-scheme"],
    });
    this.root.convviz = this;
    (window.convvizExplorers = window.convvizExplorers || []).push(this);
  };

  Explorer.prototype.resize = function () {
    var r = this.canvas.parentElement.getBoundingClientRect();
    var dpr = window.devicePixelRatio || 1;
    this.w = Math.max(200, r.width);
    this.h = Math.round(Math.min(this.w * 0.75, 640));
    this.canvas.style.height = this.h + "px";
    this.canvas.width = Math.round(this.w * dpr);
    this.canvas.height = Math.round(this.h * dpr);
    this.dpr = dpr;
    this.draw();
  };

  // data -> CSS pixels of the canvas
  Explorer.prototype.screen = function (i) {
    var b = this.box, v = this.view;
    var x = ((this.d.x[i] - b[0]) / (b[1] - b[0])) * this.w;
    var y = (1 - (this.d.y[i] - b[2]) / (b[3] - b[2])) * this.h;
    return [x * v.k + v.tx, y * v.k + v.ty];
  };

  Explorer.prototype.visible = function (i) {
    var c = this.d.label[i] >= 0 ? this.d.label[i] : this.d.pred[i];
    return !this.hidden.has(c) && (!this.onlyWrong || this.wrong[i] === 1);
  };

  Explorer.prototype.visibleCount = function () {
    var c = 0;
    for (var i = 0; i < this.n; i++) if (this.visible(i)) c++;
    return c;
  };

  Explorer.prototype.draw = function () {
    if (!this.canvas || !this.w) return;
    var ctx = this.canvas.getContext("2d"), d = this.d, n = this.n, col = themeColors();
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.w, this.h);
    var r = Math.max(1.5, Math.min(6, 60 / Math.sqrt(n))) * Math.sqrt(this.view.k);
    var nc = d.classes.length;
    // every dot gets a thin edge in the scheme's text color: a pale class color (olive, cyan)
    // on white, or a dark one (brown, blue) on slate, still stands out from the background
    var edge = Math.min(1, r / 3);
    for (var pass = 0; pass < 2; pass++) {
      for (var i = 0; i < n; i++) {
        if (!this.visible(i)) continue;
        var special = this.wrong[i] === 1 || this.suspicious.has(i);
        if ((pass === 0) === special) continue; // marked points on top
        var p = this.screen(i);
        if (p[0] < -10 || p[1] < -10 || p[0] > this.w + 10 || p[1] > this.h + 10) continue;
        var c = d.label[i] >= 0 ? d.label[i] : d.pred[i];
        ctx.beginPath();
        ctx.arc(p[0], p[1], r, 0, 6.2832);
        ctx.fillStyle = classColor(c, nc);
        ctx.globalAlpha = 0.85;
        ctx.fill();
        ctx.globalAlpha = 0.6;
        ctx.lineWidth = edge;
        ctx.strokeStyle = col.fg;
        ctx.stroke();
        ctx.globalAlpha = 1;
        if (this.wrong[i]) {
          ctx.lineWidth = 1.5;
          ctx.strokeStyle = col.wrong;
          ctx.beginPath();
          ctx.arc(p[0], p[1], r + 2, 0, 6.2832);
          ctx.stroke();
        }
        if (this.suspicious.has(i)) {
          ctx.lineWidth = 2.5;
          ctx.strokeStyle = col.fg;
          ctx.beginPath();
          ctx.arc(p[0], p[1], r + 4.5, 0, 6.2832);
          ctx.stroke();
        }
      }
    }
    [this.hover, this.selected].forEach(function (i) {
      if (i < 0 || !this.visible(i)) return;
      var p = this.screen(i);
      ctx.lineWidth = 2;
      ctx.strokeStyle = col.fg;
      ctx.beginPath();
      ctx.arc(p[0], p[1], r + 7, 0, 6.2832);
      ctx.stroke();
    }, this);
    if (!this.root.dataset.firstPaint) {
      this.root.dataset.firstPaint = String(Math.round(performance.now() - this.t0));
      this.root.dataset.ready = "1";
    }
  };

  // the visible point nearest to (mx, my), within `reach` CSS pixels (12: a mouse; a finger gets more)
  Explorer.prototype.nearest = function (mx, my, reach) {
    var best = -1, bestD = (reach || 12) * (reach || 12);
    for (var i = 0; i < this.n; i++) {
      if (!this.visible(i)) continue;
      var p = this.screen(i), dx = p[0] - mx, dy = p[1] - my, dd = dx * dx + dy * dy;
      if (dd < bestD) { bestD = dd; best = i; }
    }
    return best;
  };

  // draw point i's cell of a sprite sheet ("images", "cams" or "cams_true") into a canvas
  Explorer.prototype.thumb = function (canvas, key, i, scale) {
    var d = this.d, s = d.thumb, img = this.sprites[key];
    var cell = key === "cams_true" ? this.trueCell.get(i) : i, cols = key === "cams_true" ? d.true_cols : d.cols;
    canvas.width = s * scale;
    canvas.height = s * scale;
    var ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    var r = Math.floor(cell / cols), c = cell % cols;
    if (img && img.complete) ctx.drawImage(img, c * s, r * s, s, s, 0, 0, s * scale, s * scale);
  };

  // the class page's URL for class k (and anchor), or "" when the data names no class page
  Explorer.prototype.classUrl = function (anchor) {
    return this.d.class_page ? new URL(this.d.class_page + "#" + anchor, this.url).href : "";
  };

  Explorer.prototype.describe = function (i) {
    var d = this.d, truth = d.label[i] >= 0 ? d.classes[d.label[i]] : "no label";
    return {
      truth: truth,
      pred: d.classes[d.pred[i]],
      text: [
        "true: " + truth,
        "predicted: " + d.classes[d.pred[i]] + " (" + Math.round(d.prob[i] * 100) + "%)",
      ].concat(d.score ? ["outlier score: " + d.score[i].toFixed(2)] : []),
    };
  };

  Explorer.prototype.showTip = function (i, mx, my) {
    if (i < 0) { this.tip.hidden = true; return; }
    var info = this.describe(i), scale = Math.max(1, Math.round(96 / this.d.thumb));
    this.thumb(this.tipCanvas, "images", i, scale);
    this.tipText.textContent = "";
    var wrong = this.wrong[i] === 1;
    info.text.forEach(function (line, k) {
      var row = el("div", k === 1 && wrong ? "convviz-explorer-wrong" : "", line);
      this.tipText.appendChild(row);
    }, this);
    this.tip.hidden = false;
    var tw = this.tip.offsetWidth, th = this.tip.offsetHeight;
    this.tip.style.left = Math.max(4, Math.min(mx + 14, this.w - tw - 4)) + "px";
    this.tip.style.top = Math.max(4, Math.min(my + 14, this.h - th - 4)) + "px";
  };

  Explorer.prototype.select = function (i) {
    this.selected = i;
    this.panel.textContent = "";
    if (i < 0) {
      this.panel.appendChild(el("p", "convviz-explorer-hint", HINT));
      this.draw();
      return;
    }
    var d = this.d, info = this.describe(i), scale = Math.max(1, Math.round(128 / d.thumb));
    var both = this.trueCell.has(i) && this.sprites.cams_true;
    var t = d.label[i], p = d.pred[i];
    var figs = el("div", "convviz-explorer-figs");
    var shown = [["images", "image"]];
    if (both) shown.push(["cams_true", "Grad-CAM for " + info.truth + " (true class, " + Math.round(d.true_prob[this.trueCell.get(i)] * 100) + "%)"]);
    shown.push(["cams", "Grad-CAM for " + info.pred + (both ? " (predicted, " + Math.round(d.prob[i] * 100) + "%)" : "")]);
    shown.forEach(function (pair) {
      var fig = el("figure");
      var cv = el("canvas", "convviz-explorer-" + pair[0].replace("_", "-"));
      cv.setAttribute("role", "img");
      cv.setAttribute("aria-label", pair[1] + " of test image " + i + " (true " + info.truth + ", predicted " + info.pred + ")");
      this.thumb(cv, pair[0], i, scale);
      var cap = el("figcaption", pair[0] === "cams" && both ? "convviz-explorer-wrong" : "", pair[1]);
      fig.append(cv, cap);
      figs.appendChild(fig);
    }, this);
    this.panel.appendChild(figs);
    if (both) {
      this.panel.appendChild(el("div", "convviz-explorer-hint", "Both maps on one scale: each divided by the larger one's peak."));
    }
    var rows = [
      [document.createTextNode("true: "), t >= 0 ? textLink(info.truth, this.classUrl("class-" + t)) : document.createTextNode(info.truth)],
      [document.createTextNode("predicted: "), textLink(info.pred, this.classUrl("class-" + p)),
        document.createTextNode(" (" + Math.round(d.prob[i] * 100) + "%)")],
    ];
    rows.forEach(function (parts, k) {
      var row = el("div", k === 1 && this.wrong[i] ? "convviz-explorer-wrong" : "");
      row.append.apply(row, parts);
      this.panel.appendChild(row);
    }, this);
    this.panel.appendChild(el("div", "", info.text[2]));
    this.panel.appendChild(el("div", "", "Grad-CAM layer: " + d.cam_layer));
    var pairUrl = this.wrong[i] ? this.classUrl("confused-" + t + "-" + p) : "";
    if (pairUrl) {
      var more = el("div");
      more.append(textLink("every " + info.truth + " taken for " + info.pred, pairUrl));
      this.panel.appendChild(more);
    }
    this.draw();
  };

  Explorer.prototype.zoomAt = function (mx, my, f) {
    var v = this.view, k = Math.max(1, Math.min(50, v.k * f));
    f = k / v.k;
    v.tx = mx - (mx - v.tx) * f;
    v.ty = my - (my - v.ty) * f;
    v.k = k;
    this.draw();
  };

  Explorer.prototype.bind = function () {
    var self = this, cv = this.canvas, drag = null, touch = null;
    function pos(e) {
      var r = cv.getBoundingClientRect();
      return [e.clientX - r.left, e.clientY - r.top];
    }
    // mouse and pen: the wheel zooms, a drag pans, hovering shows the tip, a click selects.
    // Touch is handled below with touch events (their pointer events of type "touch" are ignored).
    cv.addEventListener("wheel", function (e) {
      e.preventDefault();
      var p = pos(e);
      self.zoomAt(p[0], p[1], e.deltaY < 0 ? 1.2 : 1 / 1.2);
    }, { passive: false });
    cv.addEventListener("pointerdown", function (e) {
      if (e.pointerType === "touch" && TOUCH_EVENTS) return;
      var p = pos(e);
      drag = { x: p[0], y: p[1], tx: self.view.tx, ty: self.view.ty, moved: false };
    });
    cv.addEventListener("pointermove", function (e) {
      if (e.pointerType === "touch" && TOUCH_EVENTS) return;
      var p = pos(e);
      if (drag && (drag.moved || Math.abs(p[0] - drag.x) > 3 || Math.abs(p[1] - drag.y) > 3)) {
        drag.moved = true;
        self.view.tx = drag.tx + p[0] - drag.x;
        self.view.ty = drag.ty + p[1] - drag.y;
        self.tip.hidden = true;
        self.draw();
        return;
      }
      var i = self.nearest(p[0], p[1]);
      if (i !== self.hover) { self.hover = i; self.draw(); }
      self.showTip(i, p[0], p[1]);
    });
    cv.addEventListener("pointerup", function (e) {
      if (e.pointerType === "touch" && TOUCH_EVENTS) return;
      var p = pos(e);
      if (drag && !drag.moved) self.select(self.nearest(p[0], p[1]));
      drag = null;
    });
    cv.addEventListener("pointerleave", function (e) {
      if (e.pointerType === "touch" && TOUCH_EVENTS) return;
      drag = null;
      self.hover = -1;
      self.tip.hidden = true;
      self.draw();
    });
    cv.addEventListener("dblclick", function () { self.view = { k: 1, tx: 0, ty: 0 }; self.draw(); });

    // touch: the canvas's touch-action (pan-x pan-y) leaves one-finger drags to the page,
    // which scrolls; two fingers are ours (default prevented): pinch zooms, moving pans. A
    // tap (one finger, no move) selects the nearest point and shows its tip.
    function pinch(e) {
      var a = pos(e.touches[0]), b = pos(e.touches[1]);
      return { mid: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2], dist: Math.max(1, Math.hypot(a[0] - b[0], a[1] - b[1])) };
    }
    cv.addEventListener("touchstart", function (e) {
      self.tip.hidden = true; // a tap's tip stays until the next touch
      if (e.touches.length === 1 && !touch) {
        var p = pos(e.touches[0]);
        touch = { x: p[0], y: p[1], tap: true, pinch: null };
      } else if (e.touches.length >= 2) {
        if (!touch) touch = { tap: false, pinch: null };
        touch.tap = false;
        touch.pinch = { start: pinch(e), view: { k: self.view.k, tx: self.view.tx, ty: self.view.ty } };
        if (e.cancelable) e.preventDefault();
      }
    }, { passive: false });
    cv.addEventListener("touchmove", function (e) {
      if (!touch) return;
      if (touch.pinch && e.touches.length >= 2) {
        if (!e.cancelable) return; // the page already scrolls with these fingers: leave it
        e.preventDefault();
        var now = pinch(e), s = touch.pinch.start, v0 = touch.pinch.view;
        var k = Math.max(1, Math.min(50, v0.k * now.dist / s.dist));
        // the plot point under the fingers' first midpoint follows their midpoint
        self.view = {
          k: k,
          tx: now.mid[0] - ((s.mid[0] - v0.tx) / v0.k) * k,
          ty: now.mid[1] - ((s.mid[1] - v0.ty) / v0.k) * k,
        };
        self.draw();
      } else if (touch.tap) {
        var p = pos(e.touches[0]);
        if (Math.abs(p[0] - touch.x) > TOUCH_SLOP || Math.abs(p[1] - touch.y) > TOUCH_SLOP) touch.tap = false;
      }
    }, { passive: false });
    function end(e) {
      if (!touch) return;
      if (e.touches.length > 0) {
        if (touch.pinch && e.touches.length < 2) touch.pinch = null; // one finger lifted: no pinch
        return;
      }
      if (touch.tap && e.type === "touchend") {
        var i = self.nearest(touch.x, touch.y, 24);
        self.hover = i;
        self.select(i);
        self.showTip(i, touch.x, touch.y);
        if (e.cancelable) e.preventDefault(); // no emulated mouse events after the tap
      }
      touch = null;
    }
    cv.addEventListener("touchend", end, { passive: false });
    cv.addEventListener("touchcancel", end);
  };

  function start() {
    document.querySelectorAll("a.convviz-explorer").forEach(function (a) { new Explorer(a); });
  }
  // Material's instant navigation swaps pages without a reload
  if (window.document$ && window.document$.subscribe) window.document$.subscribe(start);
  else if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
