// What a live push changes, in words, for the page's announcer (courtside.js): a screen reader
// hears "Junior squad 09:00, 3 of 8 spots left" when someone else books, not "Updated".
// The push is compared with what the page shows before it is applied: rows (list items,
// calendar cards) are matched by id or the data that names them; a row whose text changed is
// described, as are rows that came or went. A push that changes nothing says nothing.
(function () {
  "use strict";

  var ROW = "li, article, tr";
  var MAX_SAID = 3;  // a burst: the first few, then a count

  function clean(text) {
    return (text || "").replace(/\s+/g, " ").trim();
  }

  // Rows that carry information: not hidden bookkeeping (the holdings list), not nested in
  // another row (a calendar card's attendees are part of the card).
  function rows(root) {
    var found = [];
    if (root.matches && root.matches(ROW)) return [root];
    root.querySelectorAll(ROW).forEach(function (row) {
      if (row.closest("[hidden]")) return;
      var outer = row.parentElement && row.parentElement.closest(ROW);
      if (outer && root.contains(outer)) return;
      found.push(row);
    });
    return found;
  }

  function key(row) {
    if (row.id) return "#" + row.id;
    var d = row.dataset;
    if (d.session) return "s" + d.session;
    if (d.at) return "a" + d.at;
    if (d.activity) return "f" + d.activity;
    return "t" + text(row);
  }

  // What a row says, short: its own summary (data-say, aria-label plus occupancy) or its text
  // without the parts that are the viewer's own (messages next to buttons, hidden words).
  function text(row) {
    if (row.dataset.say) return row.dataset.say;
    var label = row.getAttribute("aria-label"), occupancy = row.querySelector(".occupancy");
    if (label) return label + (occupancy ? ", " + clean(occupancy.textContent) : "");
    var copy = row.cloneNode(true);
    copy.querySelectorAll(".row-msg, .near-msg, .mine-note, .visually-hidden, button, [hidden]").forEach(function (el) { el.remove(); });
    var said = clean(copy.textContent);
    return said.length > 140 ? said.slice(0, 137) + "…" : said;
  }

  function table(list) {
    var out = {};
    list.forEach(function (row) { out[key(row)] = text(row); });
    return out;
  }

  // The words for the changes `html` (a push: out-of-band elements by id) would make.
  function describe(html) {
    var holder = document.createElement("template");
    holder.innerHTML = html;
    var said = [];
    Array.prototype.forEach.call(holder.content.children, function (incoming) {
      var current = incoming.id && document.getElementById(incoming.id);
      if (!current) return;
      var before = table(rows(current)), after = table(rows(incoming));
      var keys = Object.keys(after);
      keys.forEach(function (k) {
        if (!(k in before)) said.push("New: " + after[k]);
        else if (before[k] !== after[k]) said.push(after[k]);
      });
      Object.keys(before).forEach(function (k) {
        if (!(k in after) && before[k]) said.push("Removed: " + before[k]);
      });
      if (!keys.length && !Object.keys(before).length) {
        var was = text(current), now = text(incoming);
        if (was !== now && now) said.push(now);
      }
    });
    if (said.length > MAX_SAID) {
      said = said.slice(0, MAX_SAID).concat(["and " + (said.length - MAX_SAID) + " more changes"]);
    }
    return said.join(". ");
  }

  window.courtsideChanges = describe;
})();
