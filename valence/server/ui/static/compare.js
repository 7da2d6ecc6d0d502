// Compare page: a redispatch against its parent — what was reused, replaced, recomputed, and why.
"use strict";

(() => {
  const { el } = V;
  const id = document.querySelector(".compare").dataset.dispatchId;
  const CATEGORIES = {
    reused: { text: "reused", colour: V.REUSED },
    replaced: { text: "replaced", colour: "#c2410c" },
    recomputed: { text: "recomputed", colour: "#2f78d0" },
    unexplained: { text: "no reason recorded", colour: "#6b7280" },
  };
  const helpers = document.getElementById("compare-helpers");
  let filter = "all";
  let latest = null;

  const outcome = (category) => el("span",
    { class: "badge", "data-category": category,
      style: { background: CATEGORIES[category].colour } },
    CATEGORIES[category].text);

  function header(c) {
    const title = document.getElementById("compare-title");
    V.fill(title, el("span", {}, `${c.name}: `), V.dispatchLink(c.dispatch_id), " ",
      V.badge(c.status), el("span", { class: "muted" }, "  vs parent  "),
      V.dispatchLink(c.parent_id), " ", V.badge(c.parent_status));
    document.title = `Compare ${id.slice(0, 8)} · valence`;
  }

  function counts(c) {
    const box = document.getElementById("counts");
    V.fill(box, ...Object.entries(CATEGORIES)
      .filter(([key]) => key !== "unexplained" || c.counts[key])
      .map(([key, cat]) => el("div", { class: "card", "data-category": key,
        style: { borderTopColor: cat.colour } },
      el("span", { class: "number" }, c.counts[key]), el("span", {}, cat.text))));
    const replaced = document.getElementById("replaced");
    V.fill(replaced, c.replaced.length ? el("p", {}, "replace_electrons: ",
      c.replaced.map((name) => el("code", {}, name))) : "");
  }

  function inputs(c) {
    const rows = c.inputs.map((i) => el("tr", { class: i.changed ? "changed" : "" },
      el("th", {}, i.name),
      el("td", {}, el("pre", { class: "inline" }, i.before ?? "—")),
      el("td", {}, el("pre", { class: "inline" }, i.after ?? "—"))));
    V.fill(document.querySelector("#inputs tbody"), ...(rows.length ? rows
      : [el("tr", {}, el("td", { colspan: 3, class: "empty" }, "No inputs."))]));
  }

  function nodes(c) {
    const shown = c.nodes.filter((n) => filter === "all" || n.category === filter);
    V.fill(document.querySelector("#compare-nodes tbody"), ...shown.map((n) => {
      const from = n.reused_from_dispatch;
      return el("tr", { "data-node-id": n.node_id, "data-category": n.category },
        el("td", { class: "mono" }, n.node_id),
        el("td", {}, el("a", { href: `/dispatches/${id}#node=${n.node_id}` }, n.name),
          n.replaced ? el("span", { class: "muted" }, ` (was ${n.replaced})`) : null),
        el("td", {}, outcome(n.category)),
        el("td", {}, V.badge(n.status)),
        el("td", {}, n.code ? el("code", {}, n.code) : null, " ", n.text || "",
          from ? el("div", { class: "small" }, "from ", el("a", {
            href: `/dispatches/${from}#node=${n.reused_from_node}`, class: "mono" },
          `${from.slice(0, 8)} node ${n.reused_from_node}`)) : null));
    }));
  }

  function filters(c) {
    const box = document.getElementById("category-filter");
    const options = ["all", ...Object.keys(CATEGORIES).filter((k) => c.counts[k])];
    V.fill(box, ...options.map((key) => el("button", {
      class: key === filter ? "active" : "", "data-filter": key,
      onclick: () => { filter = key; render(latest); } }, key)));
  }

  function render(c) {
    header(c); counts(c); inputs(c); filters(c); nodes(c);
  }

  async function refresh() {
    latest = await V.api(`/dispatches/${id}/compare?helpers=${helpers.checked}`);
    render(latest);
    V.showMessage("");
    document.body.dataset.compareStatus = latest.status;
    return !V.TERMINAL.has(latest.status);
  }

  helpers.addEventListener("change", () => refresh().catch((e) => V.showMessage(e.message)));
  V.poll(refresh, 2000);
})();
