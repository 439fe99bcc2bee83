// Gatehouse security console: live updates for the feed and the audit-log
// verification. Loaded from the console's own origin; the pages carry no
// inline script. Text reaches the page through textContent only.
"use strict";

(function () {
  function feed() {
    var state = document.getElementById("feed-state");
    var rows = document.getElementById("feed-rows");
    if (!state || !rows) {
      return;
    }
    var after = Number(state.dataset.after || "0");
    var max = 100;

    function cell(text, cls) {
      var td = document.createElement("td");
      td.textContent = text;
      if (cls) {
        td.className = cls;
      }
      return td;
    }

    function row(item) {
      var tr = document.createElement("tr");
      tr.className = item.decision + " fresh";
      var t = new Date(item.time);
      tr.appendChild(cell(t.toISOString().substring(11, 19)));
      tr.appendChild(cell(item.exchange.substring(0, 12), "mono"));
      tr.appendChild(cell(item.record ? String(item.record) : ""));
      tr.appendChild(cell(item.direction));
      tr.appendChild(cell(item.partner));
      tr.appendChild(cell(item.interaction, "mono"));
      var decision = cell("");
      var tag = document.createElement("span");
      tag.className = "tag " + item.decision;
      tag.textContent = item.decision;
      decision.appendChild(tag);
      tr.appendChild(decision);
      tr.appendChild(cell(String(item.status)));
      tr.appendChild(cell(item.rule, "mono"));
      return tr;
    }

    function poll() {
      fetch("/console/api/feed?after=" + after, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) {
          if (!r.ok) {
            throw new Error("status " + r.status);
          }
          return r.json();
        })
        .then(function (data) {
          var items = data.items || [];
          var empty = rows.querySelector("tr.empty");
          if (items.length && empty) {
            empty.remove();
          }
          // Items come newest first; insert oldest first so the newest ends on top.
          for (var i = items.length - 1; i >= 0; i--) {
            rows.insertBefore(row(items[i]), rows.firstChild);
            after = Math.max(after, items[i].seq);
          }
          while (rows.children.length > max) {
            rows.removeChild(rows.lastChild);
          }
          state.className = "live";
          state.textContent = "Live: the table updates every two seconds.";
        })
        .catch(function () {
          state.className = "live paused";
          state.textContent = "Updates paused: the gateway did not answer. Retrying.";
        });
    }
    setInterval(poll, 2000);
  }

  function verify() {
    var box = document.getElementById("verify");
    if (!box || box.dataset.status !== "running") {
      return;
    }
    var timer = setInterval(function () {
      fetch("/console/api/verify", { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.json(); })
        .then(function (s) {
          if (s.status === "running") {
            var p = document.getElementById("verify-progress");
            if (p) {
              p.textContent = s.done + " of " + s.total;
            }
            return;
          }
          clearInterval(timer);
          window.location.replace("/console/auditlog");
        })
        .catch(function () {});
    }, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    feed();
    verify();
  });
})();
