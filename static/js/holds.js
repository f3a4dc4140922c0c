// "Someone is booking this" (realtime/consumers.py, holds). Opening the booking of a lesson
// slot, or of one of a session's last spots, asks to confirm in a dialog and tells the others
// meanwhile; they see a note on that slot until it is booked, let go, or a minute passes.
// Advisory only: the database still decides who gets the spot.
(function () {
  "use strict";

  var dialog = document.getElementById("confirm-dialog");
  var me = null;
  var held = {};  // "key|item" -> {key, item, until}; holds of other viewers

  function id(key, item) { return key + "|" + item; }

  function keyOf(element) {
    var fragment = element.closest("[data-live]");
    return fragment ? fragment.dataset.live : null;
  }

  function mark() {
    var now = Date.now();
    document.querySelectorAll("[data-hold]").forEach(function (button) {
      var hold = held[id(keyOf(button), button.dataset.hold)];
      var on = hold && hold.until > now;
      var note = button.parentElement.querySelector(".hold-note");
      if (on && !note) {
        note = document.createElement("span");
        note.className = "hold-note";
        note.textContent = "Someone is booking this";
        button.insertAdjacentElement("afterend", note);
      } else if (!on && note) {
        note.remove();
      }
    });
  }

  document.addEventListener("courtside:ready", function (event) {
    me = event.detail.you;
    held = {};
    var holds = event.detail.holds || {};
    Object.keys(holds).forEach(function (key) {
      Object.keys(holds[key]).forEach(function (item) {
        held[id(key, item)] = { until: Date.now() + 60000 };
      });
    });
    mark();
  });

  document.addEventListener("courtside:hold", function (event) {
    var msg = event.detail;
    if (me && msg.by === me.tag) return;  // our own
    if (msg.on) held[id(msg.k, msg.i)] = { until: Date.now() + msg.ttl * 1000 };
    else delete held[id(msg.k, msg.i)];
    mark();
    if (msg.on) setTimeout(mark, msg.ttl * 1000 + 50);
  });

  // A push replaces rows: put the notes back on the new buttons.
  document.addEventListener("htmx:oobAfterSwap", mark);
  document.addEventListener("htmx:afterSwap", mark);

  // -- this viewer's own hold: a confirmation step while the others are told --

  if (!dialog || !window.courtsideLive) return;
  var pending = null;  // {button, key, item}

  function tell(on) {
    if (!pending) return;
    window.courtsideLive.send({ t: on ? "hold" : "unhold", k: pending.key, i: pending.item });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-hold]");
    if (!button || button.dataset.confirmed === "1") return;
    var key = keyOf(button);
    if (!key || window.courtsideLive.state() !== "live") return;  // no socket: book at once
    event.preventDefault();
    event.stopPropagation();
    pending = { button: button, key: key, item: button.dataset.hold };
    dialog.querySelector(".confirm-text").textContent = button.dataset.holdText || button.textContent;
    tell(true);
    dialog.showModal();
  }, true);

  dialog.addEventListener("close", function () {
    var chosen = dialog.returnValue === "yes";
    var current = pending;
    if (!current) return;
    if (chosen) {
      current.button.dataset.confirmed = "1";
      current.button.click();  // the real submit, through htmx, with this button as submitter
      delete current.button.dataset.confirmed;
    } else {
      tell(false);
      pending = null;
      current.button.focus();
    }
  });

  // The booking answered (made or refused): let go of the hold.
  document.addEventListener("htmx:afterRequest", function () {
    if (pending) {
      tell(false);
      pending = null;
    }
  });
})();
