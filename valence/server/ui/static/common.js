// Shared helpers: the API client (with the server's token), DOM building, formatting.
"use strict";

const V = (() => {
  const API = "/api/v1";
  const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);
  const COLOURS = {
    COMPLETED: "#2f9e62",
    RUNNING: "#2f78d0",
    FAILED: "#d8404a",
    CANCELLED: "#b7791f",
    NEW_OBJECT: "#a3adba",
    PENDING_BACKEND: "#d6a43c", // queued: waiting for a worker
    POSTPROCESSING_FAILED: "#d8404a",
  };
  const IN_FLIGHT = "#7c5cd6"; // STARTING, DISPATCHING, PENDING_*, POSTPROCESSING
  const REUSED = "#6d28d9";

  const colour = (status) => COLOURS[status] || IN_FLIGHT;

  // ---- API -----------------------------------------------------------------------------
  // A link like http://host:port/#token=... hands this browser the token (never sent in URLs),
  // also while the page is open (hashchange).
  function takeToken() {
    const given = /^#token=(.+)$/.exec(location.hash);
    if (!given) return false;
    const token = decodeURIComponent(given[1]);
    localStorage.setItem("valenceToken", token);
    history.replaceState(null, "", location.pathname + location.search);
    const dialog = document.getElementById("token-dialog");
    if (dialog && dialog.open) { // a request is waiting for a token: this is it
      dialog.querySelector("input").value = token;
      dialog.close();
    }
    return true;
  }
  takeToken();
  window.addEventListener("hashchange", () => {
    if (takeToken()) document.dispatchEvent(new Event("valence:token"));
  });

  function askToken() {
    const dialog = document.getElementById("token-dialog");
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => {
        const token = dialog.querySelector("input").value.trim();
        if (token) localStorage.setItem("valenceToken", token);
        resolve();
      }, { once: true });
      if (!dialog.open) dialog.showModal();
    });
  }

  // The banner shown while the server cannot be reached; the live dot goes out meanwhile.
  function offline(on, detail = "") {
    let banner = document.getElementById("offline");
    if (!banner && on) {
      banner = el("div", { id: "offline", class: "offline", role: "alert" });
      document.body.prepend(banner);
    }
    if (banner) {
      banner.hidden = !on;
      fill(banner, on ? `Cannot reach the valence server${detail}: retrying…` : "");
    }
    document.body.classList.toggle("is-offline", on);
  }

  async function send(path, method, body, headers) {
    try {
      return await fetch(API + path, { method, headers, body });
    } catch (error) { // the server is down or unreachable: say so, callers retry
      offline(true, ` (${error.message})`);
      throw Object.assign(new Error("the server cannot be reached"), { status: 0 });
    }
  }

  // api(path, {method, json, raw, text}): JSON in (a value, or ``raw`` JSON text kept as
  // typed, so 2.0 stays a float) and out; errors carry the server's detail.
  async function api(path, { method = "GET", json = undefined, raw = undefined,
    text = false } = {}) {
    const body = raw !== undefined ? raw : json === undefined ? undefined : JSON.stringify(json);
    for (let attempt = 0; ; attempt++) {
      const token = localStorage.getItem("valenceToken");
      const headers = token ? { Authorization: `Bearer ${token}` } : {};
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const response = await send(path, method, body, headers);
      offline(false);
      if (response.status === 401 && attempt < 3) {
        // A token that arrived meanwhile (a #token= link) is tried before asking.
        if (localStorage.getItem("valenceToken") === token) await askToken();
        continue;
      }
      if (!response.ok) {
        let detail = response.statusText;
        try { detail = (await response.json()).detail; } catch (_) { /* not JSON */ }
        if (typeof detail !== "string") detail = JSON.stringify(detail);
        throw Object.assign(new Error(detail), { status: response.status });
      }
      if (text) return response.text();
      return method === "GET" || response.status !== 204 ? response.json() : null;
    }
  }

  // The raw bytes of a route as a download (the token travels in a header, not the URL).
  async function download(path, filename) {
    const token = localStorage.getItem("valenceToken");
    const response = await send(path, "GET", undefined,
      token ? { Authorization: `Bearer ${token}` } : {});
    if (!response.ok) throw Object.assign(new Error(response.statusText),
      { status: response.status });
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: filename });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  // A confirmation dialog: resolves true when the user confirms.
  function confirmAction(title, body, okText) {
    const dialog = el("dialog", { id: "confirm-dialog", class: "confirm" },
      el("form", { method: "dialog" }, el("h2", {}, title), el("div", { class: "body" }, body),
        el("div", { class: "actions" },
          el("button", { value: "cancel", class: "quiet", id: "confirm-cancel" }, "Cancel"),
          el("button", { value: "ok", id: "confirm-ok", class: "danger" }, okText))));
    document.body.append(dialog);
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => {
        resolve(dialog.returnValue === "ok");
        dialog.remove();
      }, { once: true });
      dialog.showModal();
    });
  }

  // ---- DOM -----------------------------------------------------------------------------
  // el("a", {href: "/x", class: "y"}, "text", childNode): text is always inserted as text.
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "style") Object.assign(node.style, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    return fill(node, ...children);
  }

  // Replace node's children; nested arrays are flattened, null/undefined/false skipped.
  function fill(node, ...children) {
    const kept = children.flat(Infinity).filter((c) => c != null && c !== false);
    node.replaceChildren(...kept.map((c) => (c instanceof Node ? c : String(c))));
    return node;
  }

  const badge = (status) =>
    el("span", { class: "badge", "data-status": status, style: { background: colour(status) } },
      status);

  const dispatchLink = (id, text) => el("a", { href: `/dispatches/${id}`, class: "mono" },
    text || id.slice(0, 8));

  function showMessage(text) {
    const box = document.getElementById("message");
    if (!box) return;
    box.hidden = !text;
    box.textContent = text || "";
  }

  // ---- formatting ----------------------------------------------------------------------
  const pad = (n) => String(n).padStart(2, "0");

  function time(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function duration(start, end) {
    if (!start) return "—";
    const ms = (end ? new Date(end) : new Date()) - new Date(start);
    if (ms < 1000) return `${Math.max(ms, 0)} ms`;
    const s = ms / 1000;
    if (s < 60) return `${s.toFixed(1)} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
    return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  }

  function progress(counts) {
    const total = Object.values(counts || {}).reduce((a, b) => a + b, 0);
    return { done: (counts || {}).COMPLETED || 0, total };
  }

  function progressBar(counts) {
    const { done, total } = progress(counts);
    const failed = (counts || {}).FAILED || 0;
    const pct = (n) => (total ? `${(100 * n) / total}%` : "0");
    return el("span", { class: "progress" },
      el("span", { class: "bar" },
        el("span", { class: "fill", style: { width: pct(done), background: colour("COMPLETED") } }),
        el("span", { class: "fill", style: { width: pct(failed), background: colour("FAILED") } })),
      el("span", { class: "count" }, `${done}/${total}`));
  }

  // Call fn now and then every ms while it returns true (paused while the tab is hidden);
  // while the server is unreachable, retry with backoff up to 10 s. ``ms`` may be a function.
  // ``now()`` polls at once, restarting a poll that had stopped (finished, or refused).
  function poll(fn, ms) {
    let stopped = false;
    let failures = 0;
    let timer = null;
    let running = false;
    async function tick() {
      timer = null;
      if (stopped) return;
      running = true;
      let again = true;
      if (!document.hidden) {
        try {
          again = await fn();
          failures = 0;
        } catch (error) {
          if (error.status === 0) failures += 1;
          else showMessage(error.message);
          again = !(error.status >= 400 && error.status < 500); // retrying will not help
        }
      }
      running = false;
      const wait = typeof ms === "function" ? ms() : ms;
      const delay = failures ? Math.min(wait * 2 ** failures, 10_000) : wait;
      if (again !== false && !stopped) timer = setTimeout(tick, delay);
    }
    tick();
    return {
      stop: () => { stopped = true; },
      now: () => {
        if (running) return;
        if (timer !== null) clearTimeout(timer);
        tick();
      },
    };
  }

  return {
    TERMINAL, REUSED, colour, api, download, confirmAction, el, fill, badge, dispatchLink,
    showMessage, time, duration, progress, progressBar, poll,
  };
})();
