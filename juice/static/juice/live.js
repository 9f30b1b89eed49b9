// Keeps a page up to date while it is open, every few seconds (data-live-seconds), in one of two ways.
//
// With data-live-json (the study page): that address answers {"status", "fields": {element id: text}},
// the few figures that move while raters work (with an ETag, which the browser's cache revalidates: an
// unchanged answer comes back as 304 without a body); each element whose text differs is given the new text
// (one that holds the keyboard focus is left alone). When the status differs from data-live-status
// (the study was paused or closed, which changes the page's buttons), the page is loaded again.
//
// Otherwise the parts of the page marked data-live (each with an id) are kept up to date: the page is
// fetched again and each part whose content changed is swapped in. The rest of the page (a form being
// typed into) is left alone, and so is a part that holds the keyboard focus. CSRF tokens differ on every
// page (masked), so they do not count as a change; an opened <details> stays open. templates/_live.html
// loads it, with the page's own address (data-live-url), which a page shown as the answer to a form (a
// POST) does not have. A part marked data-live-reload stands for the whole page: when it changes (a
// report computed), the page is loaded again.
(function () {
  const script = document.currentScript;
  const period = Number(script.dataset.liveSeconds || 3) * 1000;
  const url = script.dataset.liveUrl || location.href;
  const plain = function (html) { return html.replace(/name="csrfmiddlewaretoken" value="[^"]*"/g, "").replace(/ open=""/g, ""); };
  async function refreshFields() {
    const response = await fetch(script.dataset.liveJson, {credentials: "same-origin", headers: {"Accept": "application/json"}});
    if (!response.ok) return;
    const live = await response.json();
    if (live.status !== script.dataset.liveStatus) {
      location.reload();
      return;
    }
    Object.entries(live.fields).forEach(function ([id, text]) {
      const element = document.getElementById(id);
      if (element && element.textContent !== text && !element.contains(document.activeElement)) element.textContent = text;
    });
  }
  async function refreshParts() {
    const response = await fetch(url, {credentials: "same-origin", headers: {"X-Live-Refresh": "1"}});
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    document.querySelectorAll("[data-live][id]").forEach(function (part) {
      const now = fresh.getElementById(part.id);
      if (part.hasAttribute("data-live-reload")) {
        if (now && plain(now.innerHTML) !== plain(part.innerHTML)) location.reload();
        return;
      }
      if (!now || plain(now.innerHTML) === plain(part.innerHTML) || part.contains(document.activeElement)) return;
      part.querySelectorAll("details[open][id]").forEach(function (open) {
        const same = now.querySelector("#" + CSS.escape(open.id));
        if (same) same.open = true;
      });
      part.replaceWith(now);
    });
  }
  const refresh = script.dataset.liveJson ? refreshFields : refreshParts;
  setInterval(function () { if (!document.hidden) refresh().catch(function () {}); }, period);
})();
