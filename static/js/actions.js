// Actions show what they are doing at once: the button is disabled and says "Reserving…",
// a session's spot count moves, and both come back with the server's message if it refuses.
// One click is one request: the page's form drops a second submit while one is on its way
// (hx-sync on act-form), and a repeat after a lost answer is an idempotent repeat (the nonce).
(function () {
  "use strict";

  var WORDS = { reserve: "Reserving…", book: "Booking…", cancel: "Cancelling…" };
  var inFlight = null;  // {button, label, spots, spotsText}
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
    inFlight = { button: button, label: button.innerHTML, spots: spots, spotsText: spots && spots.textContent };
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
    // Refused or unreachable: put back what was there; the answer says why.
    if (done.button.isConnected) {
      done.button.disabled = false;
      done.button.removeAttribute("aria-busy");
      done.button.innerHTML = done.label;
    }
    if (done.spots && done.spots.isConnected) done.spots.textContent = done.spotsText;
  });
})();
