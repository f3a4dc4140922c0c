// Actions show what they are doing at once: the button is disabled and says "Reserving…",
// a session's spot count moves, and both come back with the server's message if it refuses.
// One click is one request: the page's form drops a second submit while one is on its way
// (hx-sync on act-form), and a repeat after a lost answer is an idempotent repeat (the nonce).
// Afterwards the keyboard keeps its place (focus.js), and a message meant for a row the answer
// removed (a cancel) is said in the section the row was in.
(function () {
  "use strict";

  var WORDS = { reserve: "Reserving…", book: "Booking…", cancel: "Cancelling…" };
  var inFlight = null;  // {button, label, spots, spotsText, place}
  var focusAfter = null;  // where focus was when the last action was sent (focus.js)
  var LEFT = /^(\s*)(\d+)( of \d+ spots? left)/;

  // The text node that says "3 of 4 spots left" in a session's row, if any.
  function spotsNode(row) {
    var occupancy = row && row.querySelector(".occupancy");
    if (!occupancy) return null;
    for (var node = occupancy.firstChild; node; node = node.nextSibling) {
      if (node.nodeType === Node.TEXT_NODE && LEFT.test(node.textContent)) return node;
    }
    return null;
  }

  function verb(button) {
    var action = button.getAttribute("formaction") || "";
    if (action.indexOf("/reserve/") >= 0) return "reserve";
    if (action.indexOf("/book/") >= 0) return "book";
    if (action.indexOf("cancel") >= 0) return "cancel";
    return null;
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var trigger = event.detail.requestConfig && event.detail.requestConfig.triggeringEvent;
    var button = trigger && trigger.submitter;
    if (!button || !verb(button)) return;
    var spots = verb(button) === "reserve" ? spotsNode(button.closest("li, article")) : null;
    // Only a button that has focus (a click, a key) has a place to keep: a script's click
    // moves nobody's focus.
    var focusedHere = document.activeElement === button;
    var place = window.courtsideFocus ? window.courtsideFocus.place(button) : null;
    inFlight = { button: button, label: button.innerHTML, spots: spots, spotsText: spots && spots.textContent, place: place };
    focusAfter = focusedHere ? place : null;
    clearNearMessage(place);
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    button.textContent = WORDS[verb(button)];
    if (spots) {
      spots.textContent = spots.textContent.replace(LEFT, function (all, space, left, rest) {
        return space + Math.max(0, parseInt(left, 10) - 1) + rest;
      });
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var done = inFlight;
    inFlight = null;
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (!done || (status >= 200 && status < 300)) return;  // done: the answer's rows replace it
    var swapped = status >= 400 && status < 500;  // answers htmx swaps in (see base.html)
    // Refused or unreachable: put back what was there; the answer says why.
    if (done.button.isConnected) {
      done.button.disabled = false;
      done.button.removeAttribute("aria-busy");
      done.button.innerHTML = done.label;
    }
    if (done.spots && done.spots.isConnected) done.spots.textContent = done.spotsText;
    if (!swapped) restoreFocus();  // nothing will settle: put focus back now
  });

  // After the answer's rows are in and marked (courtside.js marks them on the same event,
  // before this listener runs: it was added first). A live push settles too (no xhr): it may
  // land while the answer travels, and is not the answer.
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail && event.detail.xhr) restoreFocus();
  });

  function restoreFocus() {
    var where = focusAfter;
    focusAfter = null;
    if (where && window.courtsideFocus) window.courtsideFocus.restore(where);
  }

  // The answer's message for a row that the same answer removed (a cancelled reservation is no
  // longer in the list) has no place to go: htmx reports it. Say it in the section the row was
  // in, in a live region that is there before the words are (so screen readers read them).
  document.addEventListener("htmx:oobErrorNoTarget", function (event) {
    var content = event.detail && event.detail.content;
    if (!content || !/^msg-/.test(content.id || "")) return;
    var region = nearRegion(focusAfter || (inFlight && inFlight.place));
    if (!region) return;
    region.className = "near-msg " + content.className.replace("row-msg", "").trim();
    region.textContent = content.textContent;
  });

  function nearRegion(place) {
    var section = place && window.courtsideFocus ? window.courtsideFocus.sectionOf(place) : null;
    if (!section) return null;
    var region = section.querySelector(":scope > .near-msg");
    if (!region) {
      region = document.createElement("p");
      region.className = "near-msg";
      region.setAttribute("role", "status");
      var heading = section.querySelector(":scope > h1, :scope > h2, :scope > h3");
      if (heading) heading.after(region); else section.prepend(region);
    }
    return region;
  }

  function clearNearMessage(place) {
    var region = nearRegion(place);
    if (region) { region.className = "near-msg"; region.textContent = ""; }
  }
})();
