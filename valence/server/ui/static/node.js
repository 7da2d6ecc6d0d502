// The node panel: everything about one node, from the node, source and arguments routes.
"use strict";

const NodePanel = (() => {
  const { el } = V;

  const section = (title, ...content) =>
    el("section", { class: "panel-section" }, el("h3", {}, title), ...content);

  const text = (id, value, empty = "(empty)") => value
    ? el("pre", { id, class: id === "node-traceback" ? "error" : "" }, value)
    : el("p", { id, class: "muted" }, empty);

  function facts(node, dispatchId) {
    const rows = [
      ["Node id", node.node_id],
      ["Executor", node.executor || "— (resolved inline)"],
      ["Started", V.time(node.start_time)],
      ["Ended", V.time(node.end_time)],
      ["Duration", node.start_time ? V.duration(node.start_time, node.end_time || null) : "—"],
      ["Attempts", node.attempts],
    ];
    if (node.sub_dispatch_id) rows.push(["Sublattice run", V.dispatchLink(node.sub_dispatch_id)]);
    if (node.not_reusable) rows.push(["Not reusable", node.not_reusable]);
    return el("dl", { class: "facts", "data-dispatch": dispatchId },
      rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  }

  function decision(node) {
    const reason = node.reason;
    if (!reason) return el("p", { id: "node-reuse", class: "muted" }, "No reuse decision: "
      + "this dispatch was not a redispatch with reuse.");
    const reused = reason.decision === "reuse";
    const from = node.reused_from_dispatch;
    return el("div", { id: "node-reuse", class: `decision ${reused ? "reuse" : "run"}` },
      el("strong", {}, reused ? "↻ Reused" : "▶ Ran"),
      el("code", {}, reason.code), el("span", {}, reason.text),
      reused && from ? el("div", { class: "small" }, "output taken from ",
        el("a", { href: `/dispatches/${from}#node=${node.reused_from_node}`, class: "mono" },
          `${from.slice(0, 8)} node ${node.reused_from_node}`)) : null);
  }

  function argumentsTable(args, onPick) {
    if (!args.length) return el("p", { class: "muted" }, "No arguments.");
    return el("table", { class: "table compact", id: "node-arguments" },
      el("tbody", {}, args.map((a) => el("tr", {},
        el("th", {}, a.param_type === "wait" ? "(waits for)" : a.name),
        el("td", {}, el("pre", { class: "inline" }, a.preview ?? "— not computed yet")),
        el("td", { class: "from" }, el("a", { href: "#", class: "small", title: a.parent_name,
          onclick: (event) => {
            event.preventDefault();
            onPick(a.parent_id);
          } }, `node ${a.parent_id}`))))));
  }

  function sourceBlock(node, source) {
    if (source) return el("pre", { id: "node-source", class: "code" }, source);
    const task = node.kind === "electron" || node.kind === "sublattice";
    return el("p", { id: "node-source", class: "muted" }, task
      ? "The source text of this function was not stored."
      : "A helper node: resolved inline, it has no function of its own.");
  }

  async function show(box, dispatchId, nodeId, { onClose, onPick }) {
    box.hidden = false;
    box.dataset.loading = nodeId;
    const fresh = box.dataset.nodeId !== String(nodeId); // else: a refresh of the same node
    if (fresh) V.fill(box, el("p", { class: "muted" }, "Loading…"));
    const base = `/dispatches/${dispatchId}/nodes/${nodeId}`;
    const [node, source, args] = await Promise.all(
      [V.api(base), V.api(`${base}/source`), V.api(`${base}/arguments`)]);
    if (box.dataset.loading !== String(nodeId)) return; // another node was clicked meanwhile
    const failed = node.error || node.traceback;
    V.fill(box,
      el("div", { class: "panel-head" }, el("h2", { id: "node-name" }, node.name),
        el("button", { class: "close quiet", title: "close (Esc)", onclick: onClose }, "×")),
      el("div", { class: "badges" }, V.badge(node.status), el("span", { class: "tag" }, node.kind),
        node.reused_from_dispatch ? el("span", { class: "tag reused" }, "↻ reused") : null),
      facts(node, dispatchId),
      failed ? section("Error", el("p", { class: "error-line" }, node.error || ""),
        text("node-traceback", node.traceback)) : null,
      section("Reuse decision", decision(node)),
      section("Output", text("node-output", node.output ? node.output.preview : "",
        node.status === "COMPLETED" ? "(empty)" : `No output (${node.status}).`)),
      section("Arguments", argumentsTable(args, onPick)),
      section("stdout", text("node-stdout", node.stdout)),
      section("stderr", text("node-stderr", node.stderr)),
      section("Source", sourceBlock(node, source.source)));
    box.dataset.nodeId = nodeId;
    if (fresh) box.scrollTop = 0;
  }

  return { show };
})();
