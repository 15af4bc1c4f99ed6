(function () {
  "use strict";
  var store = null;
  function data() {
    if (store === null) {
      store = JSON.parse(document.getElementById("report-more").textContent);
    }
    return store;
  }
  // Everything below builds elements with textContent: names are never parsed as HTML.
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  function evidenceCell(pairs) {
    var td = el("td", "ev");
    for (var i = 0; i < pairs.length; i++) {
      var kv = el("span", "kv");
      kv.appendChild(el("i", null, pairs[i][0]));
      kv.appendChild(document.createTextNode(" " + pairs[i][1]));
      td.appendChild(kv);
    }
    return td;
  }
  function fileCell(name, folder) {
    var td = el("td", "file");
    td.appendChild(el("div", "name", name));
    td.appendChild(el("div", "folder", folder));
    return td;
  }
  function rowOf(r, withThumb) {
    var tr = el("tr");
    if (withThumb) {
      var th = el("td", "thumb");
      th.appendChild(el("div", "ph", "no preview"));
      tr.appendChild(th);
    }
    tr.appendChild(fileCell(r[0], r[1]));
    var msg = el("td", "msg", r[2]);
    msg.appendChild(el("div", "check", r[4]));
    tr.appendChild(msg);
    tr.appendChild(evidenceCell(r[3]));
    return tr;
  }
  function clusterOf(c) {
    var box = el("div", "cluster compact");
    var head = el("div", "chead");
    head.appendChild(el("span", "badge kind-" + c[1], c[1]));
    head.appendChild(el("b", null, " " + c[3].length + " copies "));
    head.appendChild(el("span", "cid", c[0]));
    box.appendChild(head);
    box.appendChild(el("div", "reason", c[2]));
    var strip = el("div", "strip");
    for (var i = 0; i < c[3].length; i++) {
      var m = c[3][i];
      var fig = el("figure", "tile" + (m[2] === "keeper" ? " keeper" : ""));
      var cap = el("figcaption");
      if (m[2] === "keeper") { cap.appendChild(el("span", "keep inline", "KEEP")); }
      cap.appendChild(el("div", "name", m[0]));
      cap.appendChild(el("div", "folder", m[1]));
      cap.appendChild(el("div", "detail", m[3]));
      if (m[2] !== "keeper") { cap.appendChild(el("div", "rel", m[2])); }
      fig.appendChild(cap);
      strip.appendChild(fig);
    }
    box.appendChild(strip);
    return box;
  }
  function relatedOf(r) {
    var tr = el("tr");
    tr.appendChild(el("td", "file", r[0]));
    tr.appendChild(el("td", "file", r[1]));
    tr.appendChild(el("td", null, r[2]));
    tr.appendChild(evidenceCell(r[3]));
    return tr;
  }
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("button[data-more]");
    if (!b) { return; }
    var what = b.getAttribute("data-more");
    var key = b.getAttribute("data-key");
    var d = data();
    var items = what === "rows" ? d.rows[key] : d[what];
    var target = document.getElementById(b.getAttribute("data-target"));
    var shown = parseInt(b.getAttribute("data-shown"), 10);
    var step = parseInt(b.getAttribute("data-step"), 10);
    var end = Math.min(items.length, shown + step);
    var frag = document.createDocumentFragment();
    for (var i = shown; i < end; i++) {
      if (what === "rows") { frag.appendChild(rowOf(items[i], b.hasAttribute("data-thumb"))); }
      else if (what === "clusters") { frag.appendChild(clusterOf(items[i])); }
      else { frag.appendChild(relatedOf(items[i])); }
    }
    target.appendChild(frag);
    b.setAttribute("data-shown", String(end));
    var left = items.length - end;
    if (left <= 0) { b.remove(); return; }
    b.textContent = "Show next " + Math.min(step, left).toLocaleString("en") + " (" +
      left.toLocaleString("en") + " more)";
  });
})();
