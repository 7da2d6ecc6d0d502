// The timeline: one bar per task from its start to its end, lanes grouped by executor,
// coloured by status; reused tasks (no time of their own) are purple diamonds. Drawn on a
// canvas so 10,000 bars stay cheap; a click opens the node.
"use strict";

const Timeline = (() => {
  const ROW = 18;
  const BAR = 12;
  const LEFT = 130; // room for the executor names
  const TOP = 28; // room for the time axis

  // Tasks that have started, packed into lanes per executor: a lane holds bars that do not
  // overlap, so concurrent tasks sit on separate rows.
  function lanes(nodes, now) {
    const groups = new Map();
    const tasks = nodes.filter((n) => !n.helper && n.start_time)
      .map((n) => ({ node: n, start: Date.parse(n.start_time),
        end: n.end_time ? Date.parse(n.end_time) : now }))
      .sort((a, b) => a.start - b.start || a.node.id - b.node.id);
    for (const task of tasks) {
      const name = task.node.reused ? "reused" : task.node.executor || "inline";
      if (!groups.has(name)) groups.set(name, []);
      const rows = groups.get(name);
      let row = rows.findIndex((lastEnd) => lastEnd <= task.start);
      if (row === -1) row = rows.length;
      rows[row] = Math.max(task.end, task.start + 1);
      task.row = row;
      task.group = name;
    }
    return { groups, tasks };
  }

  function create(canvas, { onSelect }) {
    let hits = [];
    let data = null;

    canvas.addEventListener("click", (event) => {
      const box = canvas.getBoundingClientRect();
      const x = event.clientX - box.left;
      const y = event.clientY - box.top;
      const hit = hits.find((h) => x >= h.x - 3 && x <= h.x + h.w + 3 && y >= h.y && y <= h.y + BAR);
      if (hit) onSelect(hit.id);
    });

    function draw() {
      if (!data) return;
      const now = Date.now();
      const { groups, tasks } = lanes(data.nodes, now);
      const width = canvas.parentElement.clientWidth;
      let rowCount = 0;
      const offset = new Map();
      for (const [name, rows] of groups) {
        offset.set(name, rowCount);
        rowCount += rows.length + 1;
      }
      const height = Math.max(TOP + rowCount * ROW + 10, canvas.parentElement.clientHeight);
      const ratio = window.devicePixelRatio || 1;
      canvas.width = width * ratio;
      canvas.height = height * ratio;
      canvas.style.width = `${width}px`;
      canvas.style.height = `${height}px`;
      const ctx = canvas.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      const dark = matchMedia("(prefers-color-scheme: dark)").matches;
      ctx.fillStyle = dark ? "#111827" : "#fff";
      ctx.fillRect(0, 0, width, height);
      canvas.dataset.bars = String(tasks.length);
      if (!tasks.length) {
        ctx.fillStyle = "#6b7280";
        ctx.font = "13px system-ui";
        ctx.fillText("No task has started yet.", 16, 40);
        hits = [];
        return;
      }
      const t0 = Math.min(...tasks.map((t) => t.start));
      const t1 = Math.max(...tasks.map((t) => t.end), t0 + 1);
      const scale = (width - LEFT - 16) / (t1 - t0);
      ctx.font = "11px system-ui";
      ctx.fillStyle = "#6b7280";
      const span = t1 - t0;
      const label = (ms) => (span < 2000 ? `+${ms.toFixed(span < 20 ? 1 : 0)} ms`
        : `+${(ms / 1000).toFixed(span < 20_000 ? 2 : 0)} s`);
      for (let i = 0; i <= 4; i++) {
        const x = LEFT + ((width - LEFT - 16) * i) / 4;
        const text = label((span * i) / 4);
        const shift = i === 0 ? 0 : i === 4 ? ctx.measureText(text).width : ctx.measureText(text).width / 2;
        ctx.fillText(text, x - shift, 16);
      }
      ctx.fillStyle = dark ? "#273247" : "#e5e7eb";
      for (let i = 0; i <= 4; i++) ctx.fillRect(LEFT + ((width - LEFT - 16) * i) / 4, 20, 1, height);
      for (const [name, start] of offset) {
        ctx.fillStyle = dark ? "#e5e7eb" : "#374151";
        ctx.fillText(name, 8, TOP + start * ROW + BAR);
      }
      hits = tasks.map((task) => {
        const x = LEFT + (task.start - t0) * scale;
        const y = TOP + (offset.get(task.group) + task.row) * ROW;
        const w = Math.max((task.end - task.start) * scale, 3);
        ctx.fillStyle = V.colour(task.node.status);
        if (task.node.reused) {
          ctx.fillStyle = V.REUSED;
          ctx.beginPath();
          ctx.moveTo(x, y);
          ctx.lineTo(x + 6, y + BAR / 2);
          ctx.lineTo(x, y + BAR);
          ctx.lineTo(x - 6, y + BAR / 2);
          ctx.fill();
        } else {
          ctx.fillRect(x, y, w, BAR);
        }
        if (tasks.length <= 400) { // names beside the bars while there is room to read them
          ctx.fillStyle = dark ? "#cbd5e1" : "#4b5563";
          const room = width - 16 - (x + w + 4);
          if (room > 40) ctx.fillText(task.node.name.slice(0, 40), x + w + 4, y + BAR - 2, room);
        }
        return { id: task.node.id, x, y, w, name: task.node.name };
      });
      canvas.hits = hits; // for tests: where each bar is
    }

    function update(fresh) {
      data = fresh;
      draw();
    }

    return { update, draw, bars: () => hits };
  }

  return { create, lanes };
})();
