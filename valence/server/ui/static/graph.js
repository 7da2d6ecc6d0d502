// The transport graph drawn with cytoscape at positions the server computed (ranks top to
// bottom, repeated siblings grouped into one box), coloured by status; reused nodes have a
// purple double border and a "↻ reused" line. Big graphs draw with less detail while moving.
"use strict";

const Graph = (() => {
  const READABLE_ZOOM = 0.6; // the first view never starts smaller than this...
  const NATURAL_ZOOM = 1.3; // ...nor larger than this
  const BIG = 1500; // boxes above which panning and zooming draw a cheaper picture

  const STYLE = [
    { selector: "node", style: {
      shape: "round-rectangle", width: "data(w)", height: "data(h)",
      "background-color": "data(colour)",
      "border-width": 1, "border-color": "#111827", "border-opacity": 0.25,
      label: "data(display)", color: "#fff", "font-size": 12, "font-weight": 600,
      "text-valign": "center", "text-halign": "center", "text-wrap": "wrap",
      "font-family": "system-ui, -apple-system, Segoe UI, sans-serif",
      "min-zoomed-font-size": 7,
    } },
    { selector: "node.sublattice", style: { shape: "cut-rectangle" } },
    { selector: "node.group", style: {
      "border-width": 3, "border-style": "solid", "border-color": "#111827",
      "border-opacity": 0.55, shape: "round-tag",
    } },
    { selector: "node.helper", style: {
      "background-opacity": 0.16, color: "#374151", "font-size": 10, "font-weight": 400,
      "border-color": "data(colour)", "border-opacity": 1, "border-style": "dashed",
    } },
    { selector: "node.reused", style: {
      "border-width": 5, "border-style": "double", "border-color": V.REUSED, "border-opacity": 1,
    } },
    { selector: "node:selected", style: {
      "underlay-color": "#f59e0b", "underlay-opacity": 0.7, "underlay-padding": 7,
      "underlay-shape": "round-rectangle",
    } },
    { selector: "node.found", style: {
      "underlay-color": "#facc15", "underlay-opacity": 0.9, "underlay-padding": 10,
      "underlay-shape": "round-rectangle",
    } },
    { selector: "node:active", style: { "overlay-opacity": 0 } },
    { selector: "edge", style: {
      width: 1.4, "curve-style": "bezier", "line-color": "#a7b0bd",
      "target-arrow-shape": "triangle", "target-arrow-color": "#a7b0bd", "arrow-scale": 0.8,
    } },
    { selector: "edge.many", style: { width: 3, label: "data(count)", "font-size": 10,
      color: "#6b7280", "text-background-color": "#fff", "text-background-opacity": 0.8 } },
    { selector: "edge.wait", style: { "line-style": "dashed" } },
  ];

  // Status counts of a group as one short line: "1990 ✓ · 10 running · 2 failed".
  function countsLine(counts) {
    const names = { COMPLETED: "✓", FAILED: "failed", RUNNING: "running", NEW_OBJECT: "not run",
      CANCELLED: "cancelled" };
    return Object.entries(counts).sort((a, b) => b[1] - a[1])
      .map(([status, n]) => `${n} ${names[status] || status.toLowerCase()}`).join(" · ");
  }

  // One cytoscape node for a box: a node keeps its node id as element id, a group its key.
  function boxElement(box, nodes) {
    const node = box.group ? null : nodes.get(box.members[0]);
    const reused = node ? node.reused : box.reused === box.members.length;
    const lines = box.group ? [box.label, countsLine(box.counts)]
      : node.reused ? [box.label, "↻ reused"] : [box.label];
    if (box.group && box.reused) lines.push(`↻ ${box.reused} reused`);
    const helper = node ? node.helper : false;
    const classes = [node ? node.kind : "group", box.group && "group", helper && "helper",
      reused && "reused"];
    const chars = Math.max(...lines.map((l) => l.length));
    return {
      group: "nodes",
      data: {
        id: box.group ? box.key : String(box.members[0]), key: box.key,
        nodeId: node ? node.id : null, name: node ? node.name : box.label,
        kind: node ? node.kind : "group", status: box.status, colour: V.colour(box.status),
        reused, helper, isGroup: box.group, members: box.members.length,
        display: lines.join("\n"),
        w: Math.min(Math.max(chars * (helper ? 6 : 7.4) + 24, helper ? 36 : 64), 300),
        h: helper ? 22 : 16 * lines.length + 16,
      },
      position: { x: box.x, y: box.y },
      classes: classes.filter(Boolean).join(" "),
    };
  }

  function create(container, { onSelect, onGroup }) {
    const cy = cytoscape({
      container, style: STYLE, boxSelectionEnabled: false, minZoom: 0.005, maxZoom: 3,
    });
    let shape = null; // the keys drawn, to know when to rebuild rather than recolour
    let boxOf = new Map(); // node id -> the element that draws it
    cy.on("tap", "node", (event) => {
      const data = event.target.data();
      if (data.isGroup) onGroup(data.key);
      else onSelect(data.nodeId);
    });

    function elementsOf(data) {
      const nodes = new Map(data.nodes.map((n) => [n.id, n]));
      const elements = data.boxes.map((box) => boxElement(box, nodes));
      const idOf = new Map(elements.map((e) => [e.data.key, e.data.id]));
      data.box_edges.forEach((edge, index) => elements.push({
        group: "edges",
        data: { id: `e${index}`, source: idOf.get(edge.source), target: idOf.get(edge.target),
          count: edge.count },
        classes: [edge.wait && "wait", edge.count > 1 && "many"].filter(Boolean).join(" "),
      }));
      return elements;
    }

    function build(data) {
      const elements = elementsOf(data);
      const big = data.boxes.length > BIG;
      cy.startBatch();
      cy.elements().remove();
      cy.add(elements);
      cy.endBatch();
      // Level of detail: big drawings hide edges and freeze to a bitmap while moving.
      const renderer = cy.renderer();
      renderer.hideEdgesOnViewport = big;
      renderer.textureOnViewport = big;
      readableView();
    }

    // Fit the whole graph, unless that makes labels unreadable: then start at the top.
    function readableView() {
      cy.fit(undefined, 28);
      if (cy.zoom() > NATURAL_ZOOM) {
        cy.zoom(NATURAL_ZOOM);
        cy.center();
      }
      if (cy.zoom() >= READABLE_ZOOM || cy.nodes().empty()) return;
      const all = cy.elements().boundingBox();
      const top = cy.nodes().roots().boundingBox();
      cy.zoom(READABLE_ZOOM);
      cy.pan({
        x: cy.width() / 2 - ((top.x1 + top.x2) / 2) * READABLE_ZOOM,
        y: 24 - all.y1 * READABLE_ZOOM,
      });
    }

    function update(data) {
      boxOf = new Map();
      for (const box of data.boxes) {
        const id = box.group ? box.key : String(box.members[0]);
        for (const member of box.members) boxOf.set(member, id);
      }
      const keys = data.boxes.map((b) => b.key).join(",") + "|" + data.box_edges.length;
      if (keys !== shape) {
        shape = keys;
        return build(data);
      }
      const nodes = new Map(data.nodes.map((n) => [n.id, n]));
      cy.batch(() => {
        for (const box of data.boxes) {
          const next = boxElement(box, nodes);
          const element = cy.getElementById(next.data.id);
          if (element.empty()) continue;
          element.data(next.data);
          element.classes(next.classes);
        }
      });
    }

    // The element drawing node ``nodeId`` (itself, or the group it is in).
    const elementOf = (nodeId) => cy.getElementById(boxOf.get(nodeId) || String(nodeId));

    function select(nodeId) {
      cy.nodes().unselect();
      const element = elementOf(nodeId);
      if (element.nonempty()) element.select();
    }

    function reveal(nodeId) {
      const element = elementOf(nodeId);
      if (element.empty()) return null;
      cy.nodes().removeClass("found");
      element.addClass("found");
      cy.animate({ center: { eles: element }, zoom: Math.max(cy.zoom(), 0.9) },
        { duration: 200 });
      return element.data();
    }

    return {
      cy, update, select, reveal, fit: () => cy.fit(undefined, 28),
      groupOf: (nodeId) => (boxOf.get(nodeId) || "").startsWith("g") ? boxOf.get(nodeId) : null,
    };
  }

  function legend(box) {
    const item = (colour, text, extra = {}) => V.el("span", { class: "legend-item" },
      V.el("span", { class: "swatch", style: { background: colour, ...extra } }), text);
    V.fill(box,
      item(V.colour("COMPLETED"), "completed"), item(V.colour("RUNNING"), "running"),
      item(V.colour("PENDING_BACKEND"), "queued"),
      item(V.colour("FAILED"), "failed"), item(V.colour("NEW_OBJECT"), "not run"),
      item("#fff", "reused", { border: `3px double ${V.REUSED}` }));
  }

  return { create, legend, countsLine };
})();
