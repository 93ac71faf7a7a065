// taskmasterctl web: follows a process's logs live. Each <pre data-src>
// gets its stream's last lines again (the page may be older), then every
// piece the daemon appends.
"use strict";
(function () {
  const live = document.getElementById("live");
  for (const pre of document.querySelectorAll("pre[data-src]")) {
    const atBottom = () => pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
    const show = (change) => {
      const follow = atBottom();
      change();
      if (follow) pre.scrollTop = pre.scrollHeight;
    };
    const source = new EventSource(pre.dataset.src);
    source.addEventListener("reset", (e) => {
      show(() => { pre.textContent = JSON.parse(e.data); });
      live.textContent = "live";
      live.className = "live on";
    });
    source.addEventListener("append", (e) => show(() => { pre.append(JSON.parse(e.data)); }));
    source.addEventListener("missed", (e) => show(() => {
      pre.append("\n[... " + e.data + " bytes skipped ...]\n");
    }));
    source.addEventListener("down", () => { live.textContent = "offline"; live.className = "live off"; });
    source.onerror = () => { live.textContent = "reconnecting"; live.className = "live off"; };
    pre.scrollTop = pre.scrollHeight;
  }
})();
