// The front desk's toasts for new bookings (seed 003). The live feed of recent changes
// (bookings.live.desk) marks each new booking with data-toast; the first time such a line
// shows on this page after it loaded, a toast says it (the player's name and the time). One
// push of the shared feed reaches every desk, so no per-person message is needed.
(function () {
  "use strict";

  var MAX_AT_ONCE = 3;  // a burst of bookings: the newest few, then a count
  var main = document.getElementById("main");
  if (!main) return;
  var seen = new Set();

  function scan(announce) {
    var fresh = [];
    main.querySelectorAll(".feed [data-activity]").forEach(function (line) {
      var id = line.dataset.activity;
      if (seen.has(id)) return;
      seen.add(id);
      if (line.dataset.toast) fresh.push(line.dataset.toast);
    });
    if (!announce || !fresh.length || !window.courtsideToast) return;
    fresh.slice(0, MAX_AT_ONCE).reverse().forEach(function (text) { window.courtsideToast(text); });
    if (fresh.length > MAX_AT_ONCE) {
      window.courtsideToast("… and " + (fresh.length - MAX_AT_ONCE) + " more new bookings.");
    }
  }

  scan(false);  // what the page loaded with is not news
  new MutationObserver(function () { scan(true); }).observe(main, { childList: true, subtree: true });
})();
