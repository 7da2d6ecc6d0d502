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
  // A link like http://host:port/#token=... hands this browser the token (never sent in URLs).
  const given = /^#token=(.+)$/.exec(location.hash);
  if (given) {
    localStorage.setItem("valenceToken", decodeURIComponent(given[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }

  function askToken() {
    const dialog = document.getElementById("token-dialog");
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => {
        const token = dialog.querySelector("input").value.trim();
        localStorage.setItem("valenceToken", token);
        resolve();
      }, { once: true });
      if (!dialog.open) dialog.showModal();
    });
  }

  async function api(path, { text = false } = {}) {
    for (let attempt = 0; ; attempt++) {
      const token = localStorage.getItem("valenceToken");
      const headers = token ? { Authorization: `Bearer ${token}` } : {};
      const response = await fetch(API + path, { headers });
      if (response.status === 401 && attempt < 3) {
        await askToken();
        continue;
      }
      if (!response.ok) {
        let detail = response.statusText;
        try { detail = (await response.json()).detail; } catch (_) { /* not JSON */ }
        throw Object.assign(new Error(detail), { status: response.status });
      }
      return text ? response.text() : response.json();
    }
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

  // Call fn now and then every ms while it returns true (paused while the tab is hidden).
  function poll(fn, ms) {
    let stopped = false;
    async function tick() {
      if (stopped) return;
      let again = true;
      if (!document.hidden) {
        try {
          again = await fn();
        } catch (error) {
          showMessage(error.message);
          again = !(error.status >= 400 && error.status < 500); // retrying will not help
        }
      }
      if (again !== false && !stopped) setTimeout(tick, ms);
    }
    tick();
    return () => { stopped = true; };
  }

  return {
    TERMINAL, REUSED, colour, api, el, fill, badge, dispatchLink, showMessage,
    time, duration, progress, progressBar, poll,
  };
})();
