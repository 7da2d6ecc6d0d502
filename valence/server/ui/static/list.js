// Dispatches page: newest first, filtered by status and name, paginated, refreshed live.
"use strict";

(() => {
  const form = document.getElementById("filters");
  const body = document.querySelector("#dispatches tbody");
  const query = new URLSearchParams(location.search);
  const PAGE = Math.min(Math.max(Number(query.get("limit")) || 20, 1), 500);
  const state = {
    status: query.get("status") || "",
    name: query.get("name") || "",
    from: query.get("from") || "",
    to: query.get("to") || "",
    offset: Number(query.get("offset")) || 0,
  };
  form.status.value = state.status;
  form.name.value = state.name;
  form.from.value = state.from;
  form.to.value = state.to;

  // A yyyy-mm-dd date of this browser's calendar as the instant its day starts.
  const dayStart = (day, plus = 0) => {
    const [y, m, d] = day.split("-").map(Number);
    return new Date(y, m - 1, d + plus).toISOString();
  };

  function row(d) {
    const from = d.redispatched_from;
    return V.el("tr", { "data-dispatch-id": d.dispatch_id, "data-status": d.status },
      V.el("td", {}, V.el("a", { href: `/dispatches/${d.dispatch_id}`, class: "name" }, d.name),
        d.parent_dispatch_id ? V.el("span", { class: "tag" }, "sublattice") : null),
      V.el("td", { class: "mono" }, d.dispatch_id.slice(0, 8)),
      V.el("td", { title: d.error || "" }, V.badge(d.status)),
      V.el("td", {}, V.progressBar(d.progress)),
      V.el("td", {}, V.time(d.start_time || d.created_at)),
      V.el("td", {}, d.start_time ? V.duration(d.start_time, d.end_time) : "—"),
      V.el("td", {}, from ? [V.dispatchLink(from), " ",
        V.el("a", { href: `/dispatches/${d.dispatch_id}/compare`, class: "small" }, "compare")]
        : "—"));
  }

  async function refresh() {
    const params = new URLSearchParams({ limit: PAGE, offset: state.offset });
    if (state.status) params.set("status", state.status);
    if (state.name) params.set("name_contains", state.name);
    if (state.from) params.set("since", dayStart(state.from));
    if (state.to) params.set("until", dayStart(state.to, 1));
    const page = await V.api(`/dispatches?${params}`);
    V.fill(body, ...page.items.map(row));
    if (!page.items.length) {
      body.append(V.el("tr", {}, V.el("td", { colspan: 7, class: "empty" },
        state.offset ? "No older dispatches."
          : state.status || state.name || state.from || state.to
            ? "No dispatch matches these filters."
            : "No dispatches yet: run a workflow with ct.dispatch(...).")));
    }
    document.getElementById("prev").disabled = state.offset === 0;
    document.getElementById("next").disabled = page.next_offset === null;
    document.getElementById("page").textContent =
      `page ${Math.floor(state.offset / PAGE) + 1}`;
    V.showMessage("");
    document.body.dataset.loaded = "1";
    return true;
  }

  function go(changes) {
    Object.assign(state, changes);
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(state)) if (value) params.set(key, value);
    if (query.has("limit")) params.set("limit", PAGE);
    history.replaceState(null, "", params.toString() ? `?${params}` : "/");
    refresh().catch((error) => V.showMessage(error.message));
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go({ status: form.status.value, name: form.name.value.trim(), from: form.from.value,
      to: form.to.value, offset: 0 });
  });
  form.status.addEventListener("change", () => form.requestSubmit());
  form.addEventListener("reset",
    () => setTimeout(() => go({ status: "", name: "", from: "", to: "", offset: 0 })));
  document.getElementById("prev").onclick = () =>
    go({ offset: Math.max(0, state.offset - PAGE) });
  document.getElementById("next").onclick = () => go({ offset: state.offset + PAGE });

  const poller = V.poll(refresh, 2000);
  document.addEventListener("valence:token", () => poller.now());
})();
