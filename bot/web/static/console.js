/*
 * Reception console: keeps the inbox, the live-chat queue and an open chat's
 * transcript up to date without reloading. Each region names its JSON twin
 * in data-live; the pages work without this file (reload to refresh).
 * What changed is announced in the page's role="status" region.
 */
(function () {
  "use strict";
  var status = document.getElementById("live-status");

  function announce(text) {
    if (!status) return;
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 50);
  }

  function busy(region) {
    /* Never swap a region under someone typing or choosing in it. */
    var active = document.activeElement;
    if (active && region.contains(active) && active !== region) return true;
    var fields = region.querySelectorAll("input:not([type=hidden]), textarea");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value) return true;
    }
    return false;
  }

  function poll(region, every, onData) {
    var url = region.getAttribute("data-live");
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          if (r.redirected || !r.ok) throw new Error("logged out");
          return r.json();
        })
        .then(function (data) { onData(data); window.setTimeout(tick, every); })
        .catch(function () {
          announce("Live updates stopped: reload the page (you may need to log in again).");
        });
    }
    window.setTimeout(tick, every);
  }

  var inbox = document.getElementById("inbox");
  if (inbox) {
    var latest = inbox.getAttribute("data-latest") || null;
    poll(inbox, 5000, function (data) {
      if (data.latest === latest) return;
      if (busy(inbox)) {
        announce("A new request has arrived: save what you are doing, then reload.");
        return;
      }
      latest = data.latest;
      inbox.innerHTML = data.html;
      announce("New request " + data.latest + " at the top of the inbox.");
    });
  }

  var queue = document.getElementById("queue");
  if (queue) {
    var waiting = -1;
    var shown = queue.innerHTML;
    poll(queue, 3000, function (data) {
      var now = data.open.filter(function (h) { return h.status === "waiting"; }).length;
      /* Swapped only when it changed, and never under the keyboard focus. */
      if (data.html !== shown && !busy(queue)) {
        queue.innerHTML = data.html;
        shown = data.html;
      }
      if (waiting >= 0 && now > waiting) {
        announce(now + (now === 1 ? " patient is" : " patients are") + " waiting for a person.");
      }
      waiting = now;
    });
  }

  var transcript = document.getElementById("transcript");
  if (transcript) {
    var seen = transcript.querySelectorAll("li").length;
    var state = document.getElementById("chat-status");
    poll(transcript, 2000, function (data) {
      if (state) state.textContent = data.status + (data.staff ? " with " + data.staff : "");
      if (data.messages.length === seen) return;
      var fresh = data.messages.slice(seen);
      transcript.innerHTML = data.html;
      seen = data.messages.length;
      var last = fresh[fresh.length - 1];
      if (last && last.who === "Patient") announce("The patient wrote: " + last.text);
      transcript.lastElementChild && transcript.lastElementChild.scrollIntoView({ block: "nearest" });
    });
  }
})();
