// Keeping the keyboard's place when a swap replaces what had focus (WCAG 2.4.3). An action's
// answer and a live push both replace whole rows out of band; the focused button goes with its
// row and focus would fall back to <body>. place() remembers where focus was (the button, its
// row, the section around it) before the swap; restore() puts it back on the nearest thing that
// still exists: the same button, else the row's message, else a button of the new row, else the
// row, else the section's heading. actions.js and courtside.js use it; nothing else does.
(function () {
  "use strict";

  var ROW = "li, article, tr";
  // What stays put while rows come and go: a page section outside the live fragments.
  var SECTION = "section, .card, main";

  function visible(el) {
    return !!(el && el.isConnected && el.getClientRects().length && !el.closest("[hidden]"));
  }

  function usable(el) {
    return visible(el) && !el.disabled;
  }

  function quote(value) {
    return '"' + String(value).replace(/["\\]/g, "\\$&") + '"';
  }

  // A selector that finds the same button in a new render of its row.
  function buttonSelector(el) {
    if (!el || el.tagName !== "BUTTON" || !el.name) return null;
    return 'button[formaction=' + quote(el.getAttribute("formaction") || "") + "][name=" +
      quote(el.name) + "][value=" + quote(el.value) + "]";
  }

  // A selector that finds the same row in a new render: its id, or the data that names it.
  function rowSelector(row) {
    if (!row) return null;
    if (row.id) return "#" + CSS.escape(row.id);
    var d = row.dataset;
    if (d.session) return row.tagName.toLowerCase() + "[data-session=" + quote(d.session) + "]";
    if (d.at) return row.tagName.toLowerCase() + "[data-at=" + quote(d.at) + "]";
    return null;
  }

  function place(el) {
    if (!el || el === document.body || el === document.documentElement) return null;
    var row = el.closest(ROW);
    var around = (row || el).parentElement;
    var section = around ? around.closest(SECTION) : null;
    return {
      element: el,
      button: buttonSelector(el),
      row: rowSelector(row),
      section: section,
      sectionId: section && section.id ? "#" + CSS.escape(section.id) : null,
    };
  }

  // The section the row was in, or its new render (a push may have replaced a calendar day).
  function sectionOf(where) {
    if (where.section && where.section.isConnected) return where.section;
    return (where.sectionId && document.querySelector(where.sectionId)) || document.getElementById("main");
  }

  // Focus an element that is not focusable by itself (a message, a heading) without adding
  // it to the tab order; the tabindex goes when focus leaves (a row is one render for everyone).
  function focusOn(el) {
    if (!el.matches("a[href], button, input, select, textarea, [tabindex]")) {
      el.setAttribute("tabindex", "-1");
      el.addEventListener("blur", function () { el.removeAttribute("tabindex"); }, { once: true });
    }
    el.focus({ preventScroll: false });
    return document.activeElement === el;
  }

  function lost(where) {
    var active = document.activeElement;
    return !active || active === document.body || active === document.documentElement ||
      (where && active === where.element && !visible(active));
  }

  function restore(where) {
    if (!where || !lost(where)) return false;
    if (usable(where.element)) return focusOn(where.element);
    var same = where.button && document.querySelector(where.button);
    if (usable(same)) return focusOn(same);
    var row = where.row && document.querySelector(where.row);
    if (visible(row)) {
      var message = row.querySelector(".row-msg");
      if (message && message.textContent.trim()) return focusOn(message);
      var button = Array.prototype.find.call(row.querySelectorAll("button, a[href]"), usable);
      return focusOn(button || row);
    }
    var section = sectionOf(where);
    if (!section) return false;
    var heading = section.querySelector("h1, h2, h3, h4");
    return focusOn(visible(heading) ? heading : section);
  }

  window.courtsideFocus = { place: place, restore: restore, sectionOf: sectionOf };
})();
