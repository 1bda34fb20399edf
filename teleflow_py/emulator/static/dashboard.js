// Live view of the emulator: polls /emulator/* every second and redraws.
// Data goes into the DOM through textContent only: payloads come from whoever calls the API.
"use strict";

(function () {
  const POLL_MS = 1000;
  const ROWS = 100;
  const HISTORY = 60; // seconds shown by the chart

  const COUNTERS = {
    "counter-triggers": "triggers",
    "counter-broadcasts": "broadcasts",
    "counter-cancellations": "cancellations",
    "counter-events": "events",
    "counter-duplicates": "duplicates_ignored",
    "counter-retries": "retries_seen",
    "counter-replays": "replays",
    "counter-faults": "faults",
    "counter-requests": "requests",
    "counter-connections": "connections_accepted",
  };

  const rates = []; // [{events, triggers}] per poll, oldest first
  let previous = null; // {at, events, triggers}

  async function getJson(path) {
    const response = await fetch(path, { cache: "no-store" });
    if (!response.ok) throw new Error(path + ": " + response.status);
    return response.json();
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text == null ? "" : String(text);
    row.appendChild(td);
    return td;
  }

  function describeRecipient(recipient) {
    if (typeof recipient === "string") return recipient;
    if (recipient && recipient.type === "Topic") return "topic:" + recipient.topicKey;
    if (recipient && recipient.subscriberId) return String(recipient.subscriberId);
    return JSON.stringify(recipient);
  }

  function describeRecipients(to) {
    if (to === undefined) return "all subscribers";
    return (Array.isArray(to) ? to : [to]).map(describeRecipient).join(", ");
  }

  // Replace a table's rows; newest first. Toggles the "nothing yet" note.
  function fillTable(id, items, render) {
    const table = document.getElementById(id);
    const body = document.createElement("tbody");
    items.slice().reverse().forEach(function (item) {
      body.appendChild(render(item));
    });
    table.replaceChild(body, table.tBodies[0]);
    const empty = document.getElementById(id + "-empty");
    if (empty) empty.hidden = items.length > 0;
  }

  function renderNotification(item) {
    const row = document.createElement("tr");
    row.className = item.cancelled ? "notification cancelled" : "notification";
    row.dataset.transactionId = item.transactionId;
    cell(row, item.source, "kind");
    cell(row, item.name, "workflow");
    cell(row, describeRecipients(item.to), "recipients");
    cell(row, item.transactionId, "mono transaction");
    const state = cell(row, "", "state");
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = item.cancelled ? "cancelled" : item.status;
    state.appendChild(badge);
    return row;
  }

  function renderEvent(item) {
    const row = document.createElement("tr");
    row.className = "event";
    cell(row, item.event, "event-name");
    cell(row, item.user_id || item.anonymous_id || item.external_id, "user");
    cell(row, item.occurred_at, "mono");
    return row;
  }

  function renderFault(item) {
    const row = document.createElement("tr");
    row.className = "fault";
    cell(row, item.fault, "fault-kind");
    cell(row, item.path, "mono");
    cell(row, item.status == null ? "—" : item.status);
    return row;
  }

  function renderPending(faults) {
    const list = document.getElementById("faults-pending");
    list.replaceChildren();
    faults.forEach(function (fault) {
      const entry = document.createElement("li");
      const what = fault.kind === "fail" ? "fail " + fault.status : fault.kind;
      entry.textContent = what + " ×" + fault.count + " on " + (fault.path || "any path");
      list.appendChild(entry);
    });
    if (!faults.length) {
      const entry = document.createElement("li");
      entry.textContent = "none";
      list.appendChild(entry);
    }
  }

  function recordRates(stats) {
    const now = performance.now();
    if (previous) {
      const seconds = Math.max((now - previous.at) / 1000, 0.001);
      rates.push({
        events: Math.max(stats.events - previous.events, 0) / seconds,
        triggers: Math.max(stats.triggers - previous.triggers, 0) / seconds,
      });
      if (rates.length > HISTORY) rates.shift();
    }
    previous = { at: now, events: stats.events, triggers: stats.triggers };
  }

  function drawChart() {
    const canvas = document.getElementById("chart");
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || canvas.width;
    const height = canvas.clientHeight || canvas.height;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);

    const pad = { left: 40, right: 8, top: 8, bottom: 18 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const peak = Math.max(1, ...rates.map((r) => Math.max(r.events, r.triggers)));

    ctx.strokeStyle = "#e2e5ec";
    ctx.fillStyle = "#6b7385";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "right";
    [0, 0.5, 1].forEach(function (f) {
      const y = pad.top + plotH * (1 - f);
      ctx.beginPath();
      ctx.moveTo(pad.left, y);
      ctx.lineTo(width - pad.right, y);
      ctx.stroke();
      const value = peak * f;
      ctx.fillText(peak < 10 ? value.toFixed(1) : String(Math.round(value)), pad.left - 6, y + 4);
    });
    ctx.textAlign = "left";
    ctx.fillText(HISTORY + " s", pad.left, height - 4);

    const step = plotW / HISTORY;
    const offset = HISTORY - rates.length;
    rates.forEach(function (r, i) {
      const h = (r.events / peak) * plotH;
      ctx.fillStyle = "#4f46e5";
      ctx.fillRect(pad.left + (offset + i) * step + 1, pad.top + plotH - h, Math.max(step - 2, 1), h);
    });
    ctx.strokeStyle = "#0ea5a4";
    ctx.lineWidth = 2;
    ctx.beginPath();
    rates.forEach(function (r, i) {
      const x = pad.left + (offset + i + 0.5) * step;
      const y = pad.top + plotH - (r.triggers / peak) * plotH;
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }

  function setStatus(state, text) {
    const status = document.getElementById("status");
    status.dataset.state = state;
    status.textContent = text;
  }

  async function refresh() {
    try {
      const [stats, notifications, events, faults] = await Promise.all([
        getJson("/emulator/stats"),
        getJson("/emulator/notifications?limit=" + ROWS),
        getJson("/emulator/events?limit=" + ROWS),
        getJson("/emulator/faults?limit=" + ROWS),
      ]);
      Object.keys(COUNTERS).forEach(function (id) {
        document.getElementById(id).textContent = String(stats[COUNTERS[id]] || 0);
      });
      fillTable("triggers", notifications, renderNotification);
      fillTable("events", events, renderEvent);
      fillTable("faults", faults.served, renderFault);
      renderPending(faults.pending);
      recordRates(stats);
      drawChart();
      setStatus("live", "live");
    } catch (error) {
      setStatus("offline", "emulator unreachable");
    }
  }

  async function loop() {
    await refresh();
    window.setTimeout(loop, POLL_MS);
  }

  loop();
})();
