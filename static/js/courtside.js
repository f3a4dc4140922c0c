// Courtside browser client. Pages work without it; with it, actions swap only the affected
// fragments (htmx) and every live fragment follows the database through one WebSocket.
//
// Convergence: every pushed fragment carries its stream's sequence number. Only newer numbers
// are applied; a gap, a (re)connect, or a heartbeat showing the server ahead makes the page
// fetch fresh renders over HTTP. While the socket is down the page polls every 30-60 s.
(function () {
  "use strict";

  var PING_EVERY = 15000;      // application heartbeat
  var PONG_WITHIN = 5000;      // no answer by then: the connection is dead
  var BACKOFF_MIN = 500;       // reconnect backoff, doubling, with jitter (seed 002)
  var BACKOFF_MAX = 8000;
  var OFFLINE_AFTER = 3;       // failed attempts before the indicator says Offline
  var POLL_MIN = 30000;        // HTTP polling while the socket is down
  var POLL_SPREAD = 30000;
  // Tests may poll faster (localStorage "courtside-poll-ms", at least 1000); nobody else sets it.
  try {
    var pollMs = Number(window.localStorage.getItem("courtside-poll-ms"));
    if (pollMs >= 1000) { POLL_MIN = pollMs; POLL_SPREAD = 0; }
  } catch (e) { /* storage unavailable: keep the defaults */ }

  // Cancel buttons carry data-confirm; the form they submit is shared, so ask per button.
  document.addEventListener("htmx:confirm", function (evt) {
    var trigger = evt.detail.triggeringEvent;
    var button = trigger && trigger.submitter;
    if (!button || !button.dataset.confirm) return;
    evt.preventDefault();
    if (window.confirm(button.dataset.confirm)) evt.detail.issueRequest(true);
  });

  // An action that cannot reach the server says so; nothing was changed.
  document.addEventListener("htmx:sendError", function () {
    say("You are offline: nothing was changed. Try again when the connection is back.", "error");
  });

  function say(text, kind) {
    var status = document.getElementById("status");
    if (!status) return;
    var p = document.createElement("p");
    p.className = "msg msg-" + (kind || "info");
    p.textContent = text;
    status.replaceChildren(p);
  }

  // Toasts stay long enough to read (TOAST_MS, data-toast-ms on #toasts), wait while the
  // pointer or focus is on them, can be dismissed, and those that lead somewhere (an
  // announcement) stay until dismissed. They sit in the page's flow under the status line, so
  // they never cover a row's buttons.
  var TOAST_MS = 20000;

  function toast(text, url) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var item = document.createElement("div");
    item.className = "toast";
    var words = document.createElement("p");
    words.className = "toast-text";
    words.textContent = text;
    item.appendChild(words);
    if (url) {  // where it leads (an announcement in the inbox); only our own paths
      var link = document.createElement("a");
      link.href = url.charAt(0) === "/" && url.charAt(1) !== "/" ? url : "/";
      link.textContent = "Open";
      words.append(" ", link);
    }
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss: " + text);
    close.textContent = "×";
    item.appendChild(close);
    box.appendChild(item);
    var lasts = Number(box.dataset.toastMs) || TOAST_MS;
    var timer = null;
    var held = { pointer: false, focus: false };
    function dismiss() {
      var hadFocus = item.contains(document.activeElement);
      clearTimeout(timer);
      item.remove();
      if (hadFocus) {  // back to where reading goes on: the next toast, or the page
        var next = box.querySelector(".toast-close");
        if (next) next.focus(); else document.getElementById("main").focus();
      }
    }
    function wait() {
      clearTimeout(timer);
      if (!url && !held.pointer && !held.focus) timer = setTimeout(dismiss, lasts);
    }
    close.addEventListener("click", dismiss);
    item.addEventListener("mouseenter", function () { held.pointer = true; wait(); });
    item.addEventListener("mouseleave", function () { held.pointer = false; wait(); });
    item.addEventListener("focusin", function () { held.focus = true; wait(); });
    item.addEventListener("focusout", function () { held.focus = item.contains(document.activeElement); wait(); });
    item.addEventListener("keydown", function (event) { if (event.key === "Escape") dismiss(); });
    wait();
  }
  window.courtsideToast = toast;  // for page scripts that toast what a live push brought (desk.js)

  // The announcer says what changed (changes.js), and the connection only when it degrades
  // or recovers: never "Connecting…" and "Live" on every page load.
  function announce(text) {
    var region = document.getElementById("live-announcer");
    if (region && text) region.textContent = text;
  }

  // -- What this viewer holds, marked on shared grids -------------------------------------------
  // The day grid and lesson slots are one render for every member, so they carry no one's
  // bookings. The page's own list (a personal stream) carries, hidden, what the family holds
  // and which session types are closed to whom (fragments/lists.html#holdings); rows get
  // data-mine for the acting player, and a note naming whoever of the family holds them.
  function ordinal(n) {
    var tens = n % 100, last = n % 10;
    if (tens >= 11 && tens <= 13) return n + "th";
    return n + (last === 1 ? "st" : last === 2 ? "nd" : last === 3 ? "rd" : "th");
  }

  function holdingText(d, name) {
    if (d.state === "reserved") return "Booked for " + name;
    if (d.state === "offered") return "A spot is held for " + name;
    return name + " is " + ordinal(Number(d.position) || 1) + " on the waiting list";
  }

  function markHoldings() {
    var list = document.querySelector(".holdings");
    var form = document.getElementById("act-form");
    var acting = form && form.elements.player ? form.elements.player.value : "";
    var sessions = {}, lessons = {}, closed = {}, names = {};
    if (list) {
      list.querySelectorAll("li").forEach(function (li) {
        var d = li.dataset;
        if (d.session) (sessions[d.session] = sessions[d.session] || []).push(li);
        else if (d.lesson) (lessons[d.lesson] = lessons[d.lesson] || []).push(li);
        else if (d.holder) { closed[d.holder] = d.closed || ""; names[d.holder] = li.textContent; }
      });
    }
    document.querySelectorAll("li.session[data-session]").forEach(function (row) {
      var mine = "", notes = [];
      (sessions[row.dataset.session] || []).forEach(function (li) {
        if (li.dataset.player === acting) mine = li.dataset.state;
        notes.push(holdingText(li.dataset, li.textContent));
      });
      var closedToActing = (closed[acting] || "").indexOf(" " + row.dataset.type + " ") >= 0;
      if (!mine && closedToActing) {
        mine = "closed";
        var audience = row.querySelector(".audience");
        notes.push("Not open to " + names[acting] + (audience ? " (" + audience.textContent + ")" : ""));
      }
      mark(row, mine, notes);
    });
    document.querySelectorAll("li.slot[data-at]").forEach(function (slot) {
      var mine = "", notes = [];
      (lessons[slot.dataset.at] || []).forEach(function (li) {
        if (li.dataset.player === acting) mine = "booked";
        notes.push("Booked for " + li.textContent);
      });
      mark(slot, mine || (notes.length ? "family" : ""), notes);
    });
  }

  function mark(row, mine, notes) {
    if (mine) row.dataset.mine = mine; else delete row.dataset.mine;
    var note = row.querySelector(".mine-note");
    if (note && note.textContent !== notes.join(" · ")) note.textContent = notes.join(" · ");
  }

  // -- An open edit form, told when someone else saves the same session ------------------------
  // The "stored now" fragment lists the session's fields as stored; the form carries the values
  // it started from (base_<field>). Any difference is someone else's save.
  function markStale() {
    var stored = document.querySelector(".stored");
    var form = document.getElementById("session-form");
    if (!stored || !form) return;
    var changed = [];
    stored.querySelectorAll(".stored-values li").forEach(function (li) {
      var base = form.elements["base_" + li.dataset.field];
      if (base && base.value !== li.dataset.value) changed.push(li.dataset.label);
    });
    var banner = stored.querySelector(".stale-banner");
    if (!banner) return;
    banner.querySelector(".stale-fields").textContent = changed.join(", ");
    banner.hidden = !changed.length;
    if (changed.length) banner.setAttribute("role", "alert");
  }

  function marks() { markHoldings(); markStale(); }

  document.addEventListener("htmx:afterSettle", marks);
  document.addEventListener("change", function (evt) {
    if (evt.target && evt.target.id === "act-player") markHoldings();
  });
  marks();

  var meta = document.getElementById("live-meta");
  if (!meta || !window.WebSocket) return;

  var keys = (meta.dataset.liveKeys || "").split(" ").filter(Boolean);
  // The numbers the page was rendered at (read before rendering) and their epoch: a socket that
  // becomes ready later fetches only the streams that moved since.
  var last = {};                // stream key -> last applied sequence number
  var epoch = meta.dataset.liveEpoch || "";
  try { last = JSON.parse(meta.dataset.liveSeqs || "{}"); } catch (e) { last = {}; }
  var socket = null;
  var resume = "";              // the last socket's resumption ticket: a cheap reconnect
  var live = false;
  var attempts = 0;
  var timers = { ping: null, pong: null, retry: null, poll: null };
  var indicator = document.getElementById("live-indicator");
  // What the indicator says, always in words: the state of this page's live updates.
  var LABELS = {
    connecting: "Connecting…",
    live: "Live",
    reconnecting: "Reconnecting…",
    polling: "Offline (polling)",   // the socket is down; the page refreshes itself over HTTP
    offline: "Offline",             // the browser has no network at all
    error: "Not live",              // refused: signed out, or no longer allowed to see this
  };
  var POLLING_NOTICE = "Realtime connection lost. Using polling.";

  var DEGRADED = { reconnecting: 1, offline: 1, error: 1 };  // polling: the status line says it
  var beenLive = false;

  function setState(state, detail) {
    if (!indicator) return;
    var was = indicator.dataset.state;
    if (state !== was) {
      if (state === "live" && beenLive) announce("Live updates are back.");
      else if (DEGRADED[state] && beenLive && !DEGRADED[was]) announce("Live updates paused: " + LABELS[state] + ".");
      if (state === "live") beenLive = true;
    }
    indicator.hidden = false;
    indicator.dataset.state = state;
    indicator.textContent = LABELS[state] + (detail ? ": " + detail : "");
    document.documentElement.dataset.live = state;
    if (state === "polling" && was !== "polling") say(POLLING_NOTICE, "info");
  }

  // A push or a fresh render: said in words if it changes what the page shows, and the
  // keyboard keeps its place if the focused row was replaced (focus.js).
  function apply(html) {
    var said = window.courtsideChanges ? window.courtsideChanges(html) : "";
    var where = window.courtsideFocus ? window.courtsideFocus.place(document.activeElement) : null;
    var messages = rowMessages();
    htmx.swap(document.body, html, { swapStyle: "none" });
    marks();
    keepRowMessages(messages);
    if (where) window.courtsideFocus.restore(where);
    announce(said);
  }

  // The answer an action left next to its button (.row-msg) is this window's own; a push
  // re-renders the row for everyone, with the message empty: keep the words where they were.
  function rowMessages() {
    var kept = [];
    document.querySelectorAll(".row-msg[id]").forEach(function (m) {
      if (m.textContent) kept.push({ id: m.id, text: m.textContent, className: m.className });
    });
    return kept;
  }

  function keepRowMessages(kept) {
    kept.forEach(function (m) {
      var now = document.getElementById(m.id);
      if (now && !now.textContent) { now.textContent = m.text; now.className = m.className; }
    });
  }

  function resync(which) {
    var query = which.map(function (k) { return "k=" + encodeURIComponent(k); }).join("&");
    return fetch(meta.dataset.resyncUrl + "?" + query, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("resync " + response.status);
        var seqs = JSON.parse(response.headers.get("X-Live-Seqs") || "{}");
        var fetchedEpoch = response.headers.get("X-Live-Epoch") || "";
        return response.text().then(function (html) {
          // A push newer than this render may have landed while it travelled: keep the push.
          var holder = document.createElement("template");
          holder.innerHTML = html;
          holder.content.querySelectorAll("[data-live]").forEach(function (el) {
            var k = el.dataset.live;
            if (fetchedEpoch === epoch && (seqs[k] || 0) < (last[k] || 0)) el.remove();
            else last[k] = Math.max(fetchedEpoch === epoch ? last[k] || 0 : 0, seqs[k] || 0);
          });
          apply(holder.innerHTML);
        });
      })
      .catch(function () { if (!live) setState(navigator.onLine ? "polling" : "offline"); });
  }

  function onMessage(event) {
    var msg;
    try { msg = JSON.parse(event.data); } catch (e) { return; }
    if (msg.t === "ready") {
      // The token to come back with (after a lifetime close, 4408): as new as this socket.
      if (msg.token) meta.dataset.liveToken = msg.token;
      resume = msg.resume || "";
      live = true;
      attempts = 0;
      setState("live");
      stopPolling();
      reconcile(msg);  // whatever changed while we were away, or since the page was rendered
      ping();
      tell("ready", msg);
    } else if (msg.t === "f") {
      var seen = last[msg.k] || 0;
      if (msg.s <= seen) return;                       // older than what we show
      var gap = seen && msg.s > seen + 1;
      apply(msg.h);
      last[msg.k] = msg.s;
      if (gap) resync([msg.k]);                        // a message was lost on the way
    } else if (msg.t === "n") {
      toast(msg.text, msg.url);
    } else if (msg.t === "resume") {
      resume = msg.r || "";                            // renewed after each re-check
    } else if (msg.t === "pong") {
      clearTimeout(timers.pong);
      reconcile(msg);
    } else if (msg.t === "p") {
      tell("presence", msg);
    } else if (msg.t === "h") {
      tell("hold", msg);
    }
  }

  // Other scripts (presence.js, holds.js) follow the socket through these events.
  function tell(name, detail) {
    document.dispatchEvent(new CustomEvent("courtside:" + name, { detail: detail }));
  }

  function send(message) {
    if (!socket || socket.readyState !== WebSocket.OPEN || !live) return false;
    socket.send(JSON.stringify(message));
    return true;
  }

  // Compare the server's numbers (ready, pong) with ours and fetch what we miss. A new epoch
  // means Redis restarted and forgot the numbers: ours mean nothing any more, start again.
  function reconcile(msg) {
    var seqs = msg.seqs || {};
    if (msg.epoch !== epoch) {
      epoch = msg.epoch;
      last = {};
      keys.forEach(function (k) { last[k] = seqs[k] || 0; });
      resync(keys);
      return;
    }
    var behind = keys.filter(function (k) { return !(k in last) || (seqs[k] || 0) > last[k]; });
    if (behind.length) resync(behind);
  }

  function ping() {
    clearTimeout(timers.ping);
    timers.ping = setTimeout(function () {
      if (!socket || socket.readyState !== WebSocket.OPEN) return;
      socket.send('{"t":"ping"}');
      timers.pong = setTimeout(function () { drop(4000); }, PONG_WITHIN);
      ping();
    }, PING_EVERY);
  }

  function connect() {
    clearTimeout(timers.retry);
    if (document.hidden && attempts > 0) return;      // a hidden tab reconnects when shown
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + location.host + meta.dataset.socketPath + "?t=" + encodeURIComponent(meta.dataset.liveToken);
    if (resume) url += "&r=" + encodeURIComponent(resume);   // a cheap reconnect (ticket)
    if (attempts > 0) url += "&again=1";               // a reconnect, for the server's metrics
    socket = new WebSocket(url);
    socket.onmessage = onMessage;
    socket.onclose = function (event) { drop(event.code); };
    socket.onerror = function () {};
  }

  function drop(code) {
    clearTimeout(timers.ping);
    clearTimeout(timers.pong);
    if (socket) {
      socket.onclose = null;
      socket.onmessage = null;
      try { socket.close(); } catch (e) { /* already closed */ }
      socket = null;
    }
    live = false;
    tell("down", { code: code });
    if (code === 4401 || code === 4403) {
      // Signed out, or no longer allowed: a reload shows the login or what is still ours.
      setState("error", code === 4401 ? "signed out" : "access changed");
      if (!sessionStorage.getItem("courtside-reloaded")) {
        sessionStorage.setItem("courtside-reloaded", "1");
        location.reload();
      }
      return;
    }
    clearTimeout(timers.retry);
    if (code === 4408) {
      // The socket's lifetime is over (nothing is wrong): come back at once, no backoff, and
      // checked in full (no ticket); the ready that follows resyncs whatever moved meanwhile.
      resume = "";
      setState("reconnecting");
      timers.retry = setTimeout(connect, Math.random() * BACKOFF_MIN);
      return;
    }
    // 4430: this user has too many pages open; poll, and try again at the slowest pace.
    attempts = code === 4430 ? Math.max(attempts + 1, OFFLINE_AFTER + 1) : attempts + 1;
    if (!navigator.onLine) setState("offline");
    else setState(attempts > OFFLINE_AFTER || code === 4503 ? "polling" : "reconnecting");
    startPolling();
    var delay = Math.min(BACKOFF_MAX, BACKOFF_MIN * Math.pow(2, attempts - 1));
    delay = delay / 2 + Math.random() * delay / 2;     // jitter: reconnecting clients spread out
    timers.retry = setTimeout(connect, delay);
  }

  function startPolling() {
    if (timers.poll) return;
    (function next() {
      timers.poll = setTimeout(function () {
        if (!document.hidden) resync(keys);
        next();
      }, POLL_MIN + Math.random() * POLL_SPREAD);
    })();
  }

  function stopPolling() {
    clearTimeout(timers.poll);
    timers.poll = null;
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && !live) { resync(keys); connect(); }
  });
  window.addEventListener("online", function () { if (!live) connect(); });
  // The browser knows at once that the network is gone; the socket would take a heartbeat
  // or more to notice. Say so now, and let it reconnect when the network is back.
  window.addEventListener("offline", function () {
    if (socket || live) drop(4000);
    else setState("offline");
  });
  window.addEventListener("pageshow", function () { sessionStorage.removeItem("courtside-reloaded"); });

  window.courtsideLive = {
    state: function () { return indicator && indicator.dataset.state; },
    last: function () { return last; },
    send: send,
  };
  setState("connecting");
  connect();
})();
