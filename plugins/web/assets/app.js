// taskmasterctl web: keeps the dashboard live. The page reads without it;
// this script replaces rows as the server's Server-Sent Events say they
// changed, posts the buttons' forms in the background, and ticks uptimes.
"use strict";
(function () {
  const rows = document.getElementById("rows");
  if (!rows) return;
  const live = document.getElementById("live");
  const notice = document.getElementById("notice");
  const problems = document.getElementById("problems");
  // Server time minus browser time, so uptimes count from the server's clock.
  let skew = Number(document.body.dataset.now || Date.now()) - Date.now();

  function clock(secs) {
    const pad = (n) => String(n).padStart(2, "0");
    return Math.floor(secs / 3600) + ":" + pad(Math.floor(secs / 60) % 60) + ":" + pad(secs % 60);
  }
  function tick() {
    const now = Date.now() + skew;
    for (const cell of rows.querySelectorAll("td[data-since]")) {
      cell.textContent = clock(Math.max(0, Math.floor((now - Number(cell.dataset.since)) / 1000)));
    }
  }
  function say(text, ok) {
    notice.textContent = text;
    notice.className = "notice " + (ok ? "ok" : "error");
    notice.hidden = !text;
  }
  function setLive(on, why) {
    live.textContent = on ? "live" : "offline";
    live.className = "live " + (on ? "on" : "off");
    live.title = why || "";
  }
  function replaceRow(name, html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    const row = template.content.firstElementChild;
    for (const old of rows.querySelectorAll("tr[data-name]")) {
      if (old.dataset.name === name) { old.replaceWith(row); return; }
    }
    rows.appendChild(row);
  }

  const events = new EventSource("/events");
  let downMessage = null;
  events.addEventListener("snapshot", (e) => {
    const update = JSON.parse(e.data);
    if (downMessage !== null && notice.textContent === downMessage) say("", true);
    downMessage = null;
    skew = update.now_ms - Date.now();
    rows.innerHTML = update.rows;
    problems.innerHTML = update.problems;
    setLive(true);
    tick();
  });
  events.addEventListener("row", (e) => {
    const update = JSON.parse(e.data);
    skew = update.now_ms - Date.now();
    replaceRow(update.name, update.html);
    setLive(true);
    tick();
  });
  events.addEventListener("down", (e) => {
    const update = JSON.parse(e.data);
    setLive(false, update.message);
    say(update.message, false);
    downMessage = update.message;
  });
  events.onerror = () => setLive(false, "reconnecting");

  // A button posts its form without leaving the page; the row itself
  // changes when the daemon's events say so.
  rows.addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target;
    const button = e.submitter;
    const body = new URLSearchParams(new FormData(form));
    if (button) body.set(button.name, button.value);
    for (const b of form.querySelectorAll("button")) b.disabled = true;
    say((button ? button.value : "working") + " " + body.get("name") + "...", true);
    try {
      const reply = await fetch("/action", {
        method: "POST", body, credentials: "same-origin",
        headers: { "Accept": "application/json" },
      });
      const result = await reply.json();
      say(result.message, result.ok);
    } catch (error) {
      say("the request failed: " + error, false);
    } finally {
      for (const b of form.querySelectorAll("button")) b.disabled = false;
    }
  });

  setInterval(tick, 1000);
})();
