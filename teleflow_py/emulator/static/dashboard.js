// Live view of the emulator: polls /emulator/* every second and redraws.
// Data goes into the DOM through textContent only: payloads come from whoever calls the API.
"use strict";

(function () {
  const POLL_MS = 1000;
  const ROWS = 50; // per table: tabs and filters keep them short
  const HISTORY = 60; // seconds shown by the chart
  const RATES_KEY = "teleflow-emulator-rates"; // the chart's history survives a reload

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
  };
  // Counted from the stats' "<table>_dropped" counters: rows the store let go to stay bounded.
  // (Connections are not shown: the dashboard's own polling opens them before any request.)
  function droppedRows(stats) {
    return Object.keys(stats)
      .filter((name) => name.endsWith("_dropped"))
      .reduce((sum, name) => sum + (stats[name] || 0), 0);
  }

  const rates = loadRates(); // [{t, events, triggers}] per poll, oldest first
  let previous = null; // {at, events, triggers}
  let selected = parseSelection(); // {kind, id} from the URL hash: #trigger=<id>, ...
  let activeTab = (selected && selected.tab) || "triggers";

  function loadRates() {
    try {
      const kept = JSON.parse(window.localStorage.getItem(RATES_KEY) || "[]");
      const since = Date.now() - HISTORY * 1000;
      return Array.isArray(kept) ? kept.filter((r) => r && r.t > since) : [];
    } catch (error) {
      return [];
    }
  }

  function saveRates() {
    try {
      window.localStorage.setItem(RATES_KEY, JSON.stringify(rates));
    } catch (error) {
      // Storage full or disabled: the chart only loses its history on reload.
    }
  }

  function parseSelection() {
    const match = /^#(trigger|event|request)=(.+)$/.exec(window.location.hash);
    if (!match) return null;
    const tabs = { trigger: "triggers", event: "events", request: "requests" };
    return { kind: match[1], id: decodeURIComponent(match[2]), tab: tabs[match[1]] };
  }

  function select(kind, id) {
    selected = { kind: kind, id: String(id) };
    window.history.replaceState(null, "", "#" + kind + "=" + encodeURIComponent(String(id)));
    refresh();
  }

  async function getJson(path) {
    const response = await fetch(path, { cache: "no-store" });
    if (!response.ok) throw new Error(path + ": " + response.status);
    return response.json();
  }

  async function postJson(path, body, method) {
    const response = await fetch(path, {
      method: method || "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.message || String(response.status));
    return answer;
  }

  function query(params) {
    const parts = Object.keys(params)
      .filter((name) => params[name] !== "" && params[name] != null)
      .map((name) => encodeURIComponent(name) + "=" + encodeURIComponent(params[name]));
    return parts.length ? "?" + parts.join("&") : "";
  }

  function filterValue(id) {
    return document.getElementById(id).value.trim();
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

  function selectable(row, kind, id) {
    row.dataset.select = kind + "=" + id;
    if (selected && selected.kind === kind && selected.id === String(id)) {
      row.classList.add("selected");
    }
    row.addEventListener("click", function () {
      select(kind, id);
    });
  }

  function notificationId(item) {
    return item.transactionId || "seq-" + item.seq;
  }

  function renderNotification(item) {
    const row = document.createElement("tr");
    row.className = item.cancelled ? "notification cancelled" : "notification";
    row.dataset.transactionId = item.transactionId || "";
    selectable(row, "trigger", notificationId(item));
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
    selectable(row, "event", item.message_id);
    cell(row, item.event, "event-name");
    cell(row, item.user_id || item.anonymous_id || item.external_id, "user");
    cell(row, item.occurred_at, "mono");
    return row;
  }

  function renderRequest(item) {
    const row = document.createElement("tr");
    row.className = "request";
    selectable(row, "request", item.seq);
    cell(row, item.method, "mono");
    cell(row, item.path, "mono");
    cell(row, item.status == null ? "dropped" : item.status);
    cell(row, item.idempotency_key, "mono");
    cell(row, item.replayed ? "replay" : item.fault ? "fault: " + item.fault : "");
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
        t: Date.now(),
        events: Math.max(stats.events - previous.events, 0) / seconds,
        triggers: Math.max(stats.triggers - previous.triggers, 0) / seconds,
      });
      while (rates.length > HISTORY) rates.shift();
      saveRates();
    }
    previous = { at: now, events: stats.events, triggers: stats.triggers };
  }

  function meta(list, name, value) {
    const term = document.createElement("dt");
    term.textContent = name;
    const detail = document.createElement("dd");
    detail.textContent = value == null || value === "" ? "—" : String(value);
    detail.dataset.field = name;
    list.appendChild(term);
    list.appendChild(detail);
  }

  // The selected item: what it is, its payload, and every attempt that carried its key.
  // Why a selection from the address shows nothing: gone from the store, or never there.
  function missingMessage(stats) {
    const what = { trigger: "Trigger", event: "Event", request: "Request" }[selected.kind];
    const table = { trigger: "notifications", event: "events", request: "requests" }[selected.kind];
    if ((stats[table + "_dropped"] || 0) > 0) {
      return what + " " + selected.id + " is no longer stored: the emulator dropped its oldest " +
        "rows to stay within max_stored_rows / max_stored_bytes (" + stats[table + "_dropped"] +
        " dropped so far; an id not found is most likely one of them).";
    }
    return what + " " + selected.id + " is not stored: never received, or the emulator was reset.";
  }

  async function renderDetails(notifications, events, requests, stats) {
    const body = document.getElementById("details-body");
    const empty = document.getElementById("details-empty");
    let item = null;
    let payload = null;
    let key = null;
    let request = null;
    const fields = [];
    if (selected && selected.kind === "trigger") {
      item = notifications.find((n) => notificationId(n) === selected.id);
      if (!item) {
        const all = await getJson("/emulator/notifications");
        item = all.find((n) => notificationId(n) === selected.id);
      }
      if (item) {
        key = item.idempotency_key;
        payload = item.payload;
        fields.push(["kind", item.source], ["workflow", item.name], ["status", item.cancelled ? "cancelled" : item.status]);
        fields.push(["transaction id", item.transactionId], ["recipients", describeRecipients(item.to)]);
        if (item.tenant) fields.push(["tenant", JSON.stringify(item.tenant)]);
      }
    } else if (selected && selected.kind === "event") {
      item = events.find((e) => e.message_id === selected.id);
      if (!item) item = (await getJson("/emulator/events")).find((e) => e.message_id === selected.id);
      if (item) {
        payload = item.properties || item.traits || {};
        fields.push(["event", item.event], ["user", item.user_id || item.anonymous_id], ["message id", item.message_id]);
      }
    } else if (selected && selected.kind === "request") {
      item = requests.find((r) => String(r.seq) === selected.id);
      if (!item) item = (await getJson("/emulator/requests")).find((r) => String(r.seq) === selected.id);
      if (item) {
        request = item;
        key = item.idempotency_key;
        payload = item.body != null ? item.body : item.raw_body;
        fields.push(["request", item.method + " " + item.path], ["status", item.status == null ? "dropped" : item.status]);
      }
    }
    body.hidden = !item;
    empty.hidden = !!item;
    empty.textContent = selected && !item ? missingMessage(stats) : "Click a trigger, an event or a request.";
    empty.classList.toggle("missing", !!(selected && !item));
    if (!item) return;
    const attempts = key ? await getJson("/emulator/requests" + query({ key: key, limit: ROWS })) : [];
    if (!request) request = attempts[0] || null;
    fields.push(["idempotency key", key]);
    fields.push(["retries", key ? Math.max(attempts.length - 1, 0) : "no key: attempts cannot be linked"]);
    fields.push(["replays", attempts.filter((a) => a.replayed).length]);
    const list = document.getElementById("details-meta");
    list.replaceChildren();
    fields.forEach((pair) => meta(list, pair[0], pair[1]));
    document.getElementById("details-payload").textContent = typeof payload === "string" ? payload : JSON.stringify(payload, null, 2);
    document.getElementById("details-headers").textContent = request ? JSON.stringify(request.headers, null, 2) : "—";
    fillTable("details-attempts", attempts, function (attempt) {
      const row = document.createElement("tr");
      cell(row, new Date(attempt.at * 1000).toLocaleTimeString(), "mono");
      cell(row, attempt.status == null ? "dropped" : attempt.status);
      cell(row, attempt.replayed ? "replay" : attempt.fault ? "fault: " + attempt.fault : "");
      return row;
    });
  }

  function showTab(name) {
    activeTab = name;
    document.querySelectorAll(".tab").forEach(function (tab) {
      tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
    });
    document.querySelectorAll(".view").forEach(function (view) {
      view.hidden = view.id !== "view-" + name;
    });
  }

  function say(text) {
    document.getElementById("action-result").textContent = text;
  }

  function wireControls() {
    document.querySelectorAll(".tab").forEach(function (tab) {
      tab.addEventListener("click", function () {
        showTab(tab.dataset.tab);
      });
    });
    document.getElementById("filters").addEventListener("input", refresh);
    document.getElementById("filters").addEventListener("submit", function (event) {
      event.preventDefault();
    });
    document.getElementById("fault-form").addEventListener("submit", async function (event) {
      event.preventDefault();
      const kind = filterValue("fault-kind");
      const spec = { kind: kind, count: Number(filterValue("fault-count")) };
      if (kind === "fail") spec.status = Number(filterValue("fault-status"));
      if (kind === "delay") spec.seconds = Number(filterValue("fault-seconds"));
      if (filterValue("fault-path")) spec.path = filterValue("fault-path");
      try {
        await postJson("/emulator/faults", spec);
        say("fault queued");
      } catch (error) {
        say("refused: " + error.message);
      }
      refresh();
    });
    document.getElementById("reset").addEventListener("click", async function () {
      try {
        await postJson("/emulator/reset", {});
        rates.length = 0;
        saveRates();
        selected = null;
        say("emulator reset");
      } catch (error) {
        say("refused: " + error.message);
      }
      refresh();
    });
  }

  function drawChart() {
    const canvas = document.getElementById("chart");
    canvas.dataset.points = String(rates.length); // how much history is drawn (tests read it)
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
      const filters = {
        name: filterValue("filter-workflow"),
        subscriber: filterValue("filter-subscriber"),
        status: filterValue("filter-status"),
        key: filterValue("filter-key"),
        limit: ROWS,
      };
      const requestStatus = /^[0-9]+$/.test(filters.status) ? filters.status : "";
      const [stats, notifications, events, requests, faults] = await Promise.all([
        getJson("/emulator/stats"),
        getJson("/emulator/notifications" + query(filters)),
        getJson("/emulator/events" + query({ limit: ROWS })),
        getJson("/emulator/requests" + query({ key: filters.key, status: requestStatus, limit: ROWS })),
        getJson("/emulator/faults" + query({ limit: ROWS })),
      ]);
      Object.keys(COUNTERS).forEach(function (id) {
        document.getElementById(id).textContent = String(stats[COUNTERS[id]] || 0);
      });
      const dropped = droppedRows(stats);
      document.getElementById("counter-dropped").textContent = String(dropped);
      document.getElementById("counter-dropped-box").classList.toggle("bad", dropped > 0);
      fillTable("triggers", notifications, renderNotification);
      fillTable("events", events, renderEvent);
      fillTable("requests", requests, renderRequest);
      fillTable("faults", faults.served, renderFault);
      renderPending(faults.pending);
      await renderDetails(notifications, events, requests, stats);
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

  wireControls();
  showTab(activeTab);
  loop();
})();
