// The admin page's script (src/http/admin_page.html), served as /admin/page.js: a file of
// its own, so the page's Content-Security-Policy allows no inline script.
"use strict";
const TOKEN_KEY = "edgehook.adminToken";

// Signed in through Cloudflare Access (the edge adds the identity to every request) or
// with the admin token kept in this tab.
let session = null;

async function api(method, path, body) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.authorization = `Bearer ${token}`;
  try {
    return await request(method, path, body, headers);
  } catch (e) {
    if (e.status === 401 && session?.via !== "access") signOut(e.message);
    throw e;
  }
}


// A 404 means this deployment has no such route (yet): say so instead of failing.
function showFailure(section, e) {
  const body = $(".body", section);
  body.replaceChildren(e.status === 404
    ? el("p", { class: "unavailable", "data-state": "unavailable" }, `Not available on this deployment: ${e.message || "the route answered 404"}.`)
    : el("p", { class: "error", "data-state": "error" }, `${e.code || "error"}: ${e.message}`));
}

async function load(name) {
  const section = $("#" + name);
  try { await loaders[name](section); } catch (e) { showFailure(section, e); }
}

let lastStats = null;
let lastHourly = null;
let plots = [];

// One uPlot chart in `box`, or the empty state when every point is zero.
function plot(box, x, series, empty) {
  const points = series.reduce((n, s) => n + s.values.filter((v) => v).length, 0);
  box.dataset.points = String(points);
  if (points === 0) {
    box.replaceChildren(el("p", { class: "note empty", "data-state": "empty" }, empty));
    return;
  }
  box.replaceChildren();
  const width = Math.max(240, box.clientWidth || box.parentElement.clientWidth || 600);
  const opts = {
    width, height: 200,
    cursor: { points: { size: 6 } },
    scales: { x: { time: true } },
    axes: [{}, { size: 44 }],
    series: [{ label: "hour (UTC)", value: (u, t) => (t == null ? "—" : when(t).slice(0, 16) + "Z") },
      ...series.map((s) => ({ label: s.label, stroke: s.color, width: s.dash ? 1 : 2, dash: s.dash, fill: s.fill, points: { show: true, size: 4 },
        value: (u, v) => (v == null ? "—" : String(v)) }))],
  };
  plots.push(new uPlot(opts, [x, ...series.map((s) => s.values)], box));
}

function drawCharts() {
  if (!lastHourly) return;
  for (const p of plots) p.destroy();
  plots = [];
  const data = lastHourly;
  const x = data.hours;
  const sum = (rows, key) => x.map((_, i) => rows.reduce((n, r) => n + r[key][i], 0));
  const cSel = $("#chart-collector");
  for (const c of data.collectors) if (![...cSel.options].some((o) => o.value === c.name)) cSel.append(el("option", { value: c.name }, c.name));
  const cs = cSel.value ? data.collectors.filter((c) => c.name === cSel.value) : data.collectors;
  const codes = [...new Set(cs.flatMap((c) => Object.keys(c.refused_by_code)))].sort();
  plot($("#chart-collectors"), x, [
    { label: "accepted", color: "#1b7f3b", fill: "rgba(27,127,59,.08)", values: sum(cs, "accepted") },
    { label: "duplicate", color: "#5b6475", values: sum(cs, "duplicate") },
    { label: "refused", color: "#a4161a", values: sum(cs, "refused") },
    ...codes.map((code) => ({ label: code, color: "#e07a5f", dash: [4, 4], values: x.map((_, i) => cs.reduce((n, c) => n + (c.refused_by_code[code]?.[i] || 0), 0)) })),
  ], "No webhooks in this window. Point a sender at POST /hooks/<collector>; counts reach this chart within about 10 s.");
  const sSel = $("#chart-subscription");
  for (const s of data.subscriptions) if (![...sSel.options].some((o) => o.value === s.id)) sSel.append(el("option", { value: s.id }, s.name ?? s.id));
  const ss = sSel.value ? data.subscriptions.filter((s) => s.id === sSel.value) : data.subscriptions;
  plot($("#chart-deliveries"), x, [
    { label: "delivered", color: "#1b7f3b", fill: "rgba(27,127,59,.08)", values: sum(ss, "delivered") },
    { label: "failed", color: "#a4161a", values: sum(ss, "failed") },
    { label: "held", color: "#b07d00", values: sum(ss, "held") },
  ], "No delivery attempts in this window. Create a subscription and publish an event (POST /events/<type>).");
  plot($("#chart-latency"), x, [
    { label: "p50 ms", color: "#2a6fdb", values: data.latency.p50 },
    { label: "p95 ms", color: "#7b2cbf", values: data.latency.p95 },
  ], "No accepted webhooks in this window, so no latency to show.");
}

const loaders = {
  async charts() {
    lastHourly = await api("GET", `/admin/stats/hourly?hours=${$("#stats-hours").value}`);
    drawCharts();
  },

  async collectors(section) {
    const stats = await api("GET", `/admin/stats?hours=${$("#stats-hours").value}`);
    lastStats = stats;
    for (const select of [$("#batch-collector"), $("#replay-collector")]) {
      for (const c of stats.collectors) {
        if (![...select.options].some((o) => o.value === c.name)) select.append(el("option", { value: c.name }, c.name));
      }
    }
    $(".body", section).replaceChildren(
      el("p", { class: "note" }, `Since ${when(stats.since)} (${stats.hours} h). Counts reach D1 within about 10 s.`),
      table(["collector", "accepted", "duplicate", "dropped", "refused", "refused by code"], stats.collectors.map((c) =>
        el("tr", { "data-collector": c.name },
          el("td", {}, c.name + (c.configured ? "" : " (not configured)")),
          el("td", { class: "num", "data-field": "accepted" }, String(c.accepted)),
          el("td", { class: "num" }, String(c.duplicate)),
          el("td", { class: "num" }, String(c.dropped)),
          el("td", { class: "num", "data-field": "refused" }, String(c.refused)),
          el("td", { class: "mono" }, Object.entries(c.refused_by_code).map(([k, v]) => `${k}: ${v}`).join(", ") || "—")))));
  },

  async batches(section) {
    const c = $("#batch-collector").value;
    const h = $("#batch-hour").value;
    const data = await api("GET", `/admin/batches?limit=50${c ? "&collector=" + encodeURIComponent(c) : ""}${h ? "&hour=" + h : ""}`);
    const rows = list(data, "batches");
    $(".body", section).replaceChildren(rows.length === 0
      ? el("p", { class: "note empty", "data-state": "empty" }, h || c
        ? "No batches for this collector and hour. Pick another hour, or \"any hour\"."
        : "No batches written yet. Send a webhook to a collector (POST /hooks/<name>); its batch is listed here once the ingest queue writes it to R2, usually within a minute.")
      : table(["written", "collector", "records", "bytes", "R2 key", ""], rows.map((b) =>
        el("tr", { "data-batch": b.key, "data-collector": b.collector },
          el("td", {}, when(b.created_at)), el("td", {}, b.collector),
          el("td", { class: "num", "data-field": "records" }, String(b.records)),
          el("td", { class: "num" }, String(b.bytes)), el("td", { class: "mono" }, b.key),
          el("td", {}, el("button", { onclick: () => openBatch(b.key, 0, []) }, "Open"))))));
  },

  async replays(section) {
    const rows = list(await api("GET", "/admin/replays?limit=20"), "replays");
    $(".body", section).replaceChildren(rows.length === 0
      ? el("p", { class: "note empty", "data-state": "empty" }, "No replays yet. Pick a collector, a time range and an event type above, then Replay: its records are published again as events.")
      : table(["started", "id", "collector", "range", "event type", "status", "published", "skipped", "deliveries", "batches", "by"], rows.map((r) =>
        el("tr", { "data-replay": r.id, "data-status": r.status },
          el("td", {}, when(r.created_at)), el("td", { class: "mono" }, r.id), el("td", {}, r.collector),
          el("td", { class: "mono" }, `${when(r.from)} – ${when(r.to)}`), el("td", {}, r.event_type),
          el("td", { class: "status-" + (r.status === "completed" ? "delivered" : r.status === "failed" ? "failed" : "pending"), "data-field": "status", title: r.error ?? "" },
            r.status + (r.error ? ` (${r.error})` : "")),
          el("td", { class: "num", "data-field": "published" }, String(r.published)),
          el("td", { class: "num", "data-field": "skipped" }, String(r.skipped)),
          el("td", { class: "num", "data-field": "deliveries" }, String(r.deliveries)),
          el("td", { class: "num" }, String(r.batches)), el("td", {}, r.created_by)))));
    // While a replay runs, its progress is read again every two seconds.
    clearTimeout(replayPoll);
    if (rows.some((r) => r.status === "running")) replayPoll = setTimeout(() => load("replays"), 2000);
  },

  async keys(section) {
    const data = await api("GET", "/admin/keys");
    const rows = list(data, "keys");
    $(".body", section).replaceChildren(rows.length === 0 ? el("p", { class: "note" }, "No keys issued.") :
      table(["name", "id", "scopes", "status", "expires", "last used", ""], rows.map((k) =>
        el("tr", { "data-key-id": k.id, "data-key-name": k.name },
          el("td", {}, k.name), el("td", { class: "mono" }, k.id), el("td", {}, (k.scopes || []).join(", ")),
          el("td", { class: "status-" + k.status, "data-field": "status" }, k.status),
          el("td", {}, when(k.not_after)), el("td", {}, when(k.last_used_at)),
          el("td", {}, k.status === "revoked" ? "" : el("button", { onclick: () => revoke(k) }, "Revoke"))))));
  },

  async subscriptions(section) {
    const data = await api("GET", "/admin/subscriptions");
    const rows = list(data, "subscriptions");
    const counts = new Map((lastStats?.subscriptions || []).map((s) => [s.id, s]));
    $(".body", section).replaceChildren(rows.length === 0 ? el("p", { class: "note" }, "No subscriptions.") :
      table(["name", "url", "events", "enabled", "delivered", "failed", "last attempt", ""], rows.map((s) => {
        const c = counts.get(s.id) || {};
        const last = s.last_attempt || (Array.isArray(s.attempts) ? s.attempts[s.attempts.length - 1] : null);
        return el("tr", { "data-subscription": s.id },
          el("td", {}, s.name ?? s.id), el("td", { class: "mono" }, target(s)), el("td", {}, (s.events || []).join(", ")),
          el("td", {}, s.enabled === false ? `no${s.disabled_reason ? " (" + s.disabled_reason + ")" : ""}` : "yes"),
          el("td", { class: "num" }, String(c.delivered ?? "—")), el("td", { class: "num" }, String(c.failed ?? "—")),
          el("td", { class: "mono" }, last ? `${when(last.attempted_at)} ${last.status_code ?? ""} ${last.outcome ?? ""} ${last.error ?? ""}` : "—"),
          el("td", { class: "actions" },
            s.enabled === false ? el("button", { onclick: () => enable(s) }, "Enable") : "",
            el("button", { onclick: () => recover(s) }, "Recover")));
      })));
    if (subscriptionsNote) $(".body", section).prepend(el("p", { class: "note", "data-state": "done" }, subscriptionsNote));
    subscriptionsNote = null;
  },

  async plugins(section) {
    const names = list(await api("GET", "/admin/plugins"), "plugins").map((p) => p.name);
    const plugins = await Promise.all(names.map((n) => api("GET", `/admin/plugins/${encodeURIComponent(n)}`)));
    const rows = plugins.flatMap((p) => (p.versions || []).map((v) =>
      el("tr", { "data-plugin": p.name, "data-version": v.version },
        el("td", {}, p.name), el("td", { class: "mono" }, v.version.slice(0, 12)),
        el("td", {}, v.active ? "active" : ""), el("td", { class: "num" }, String(v.size)),
        el("td", { class: "mono" }, (v.modules || []).map((m) => m.name).join(", ")), el("td", { class: "mono" }, when(v.created_at)),
        el("td", {}, v.active ? "" : el("button", { onclick: () => activatePlugin(p.name, v.version) }, "Activate")))));
    $(".body", section).replaceChildren(rows.length === 0 ? el("p", { class: "note" }, "No plugins uploaded.") :
      table(["plugin", "version", "", "bytes", "modules", "uploaded", ""], rows));
  },

  async audit(section) {
    const rows = list(await api("GET", "/admin/audit?limit=50"), "entries");
    $(".body", section).replaceChildren(rows.length === 0
      ? el("p", { class: "note empty", "data-state": "empty" }, "No changes recorded yet. Every change tried through the admin API (keys, subscriptions, rules, plugins, retries) is listed here with who made it, when and from which address.")
      : table(["when", "who", "role", "change", "status", "from"], rows.map((a) =>
        el("tr", { "data-audit": String(a.id), "data-actor": a.actor },
          el("td", {}, when(a.at)), el("td", {}, a.actor + (a.via === "access" ? "" : " (token)")), el("td", {}, a.role),
          el("td", { class: "mono" }, `${a.method} ${a.path}`),
          el("td", { class: a.status < 400 ? "status-delivered" : "status-failed", "data-field": "status" }, String(a.status)),
          el("td", { class: "mono" }, a.ip ?? "—")))));
  },

  async deliveries(section) {
    const status = $("#delivery-status").value;
    const data = await api("GET", `/admin/deliveries${status ? "?status=" + status : ""}`);
    const rows = list(data, "deliveries");
    $(".body", section).replaceChildren(rows.length === 0
      ? el("p", { class: "note empty", "data-state": "empty" }, status === "failed"
        ? "No failed deliveries. Choose \"all\" to see every delivery, or publish an event (POST /events/<type>) to a subscription."
        : "No deliveries yet. Create a subscription, then publish an event to it (POST /events/<type>).")
      : table(["result", "subscription", "event", "status", "attempts", "last error", ""], rows.map((d) =>
        el("tr", { "data-delivery": d.id },
          el("td", { class: "mono" }, d.id), el("td", {}, d.subscription_name ?? d.subscription_id ?? ""),
          el("td", {}, d.event_type ?? ""), el("td", { class: "status-" + d.status }, d.status),
          el("td", { class: "num" }, String(d.attempts ?? "")),
          el("td", { class: "mono" }, d.last_error ?? ""),
          el("td", { class: "actions" }, el("button", { onclick: () => inspect(d.id) }, "Inspect"),
            d.status === "failed" ? el("button", { onclick: () => retry(d) }, "Retry") : "")))));
  },
};

async function revoke(k) {
  if (!confirm(`Revoke key "${k.name}" (${k.id})? It stops working at once.`)) return;
  try { await api("DELETE", `/admin/keys/${encodeURIComponent(k.id)}`); } catch (e) { showFailure($("#keys"), e); return; }
  await load("keys");
}

async function activatePlugin(name, version) {
  try { await api("POST", `/admin/plugins/${encodeURIComponent(name)}/activate`, { version }); } catch (e) { showFailure($("#plugins"), e); return; }
  await load("plugins");
}

// What the last recover or enable did, shown above the subscriptions once.
let subscriptionsNote = null;

// Sends again every failed or held delivery of `s` changed in the last hours the operator names.
async function recover(s) {
  const hours = Number(prompt(`Send again the failed and held deliveries of "${s.name ?? s.id}" changed in the last how many hours?`, "24"));
  if (!Number.isFinite(hours) || hours <= 0) return;
  const since = Math.max(0, Math.floor(Date.now() / 1000 - hours * 3600));
  try {
    const r = await api("POST", `/admin/subscriptions/${encodeURIComponent(s.id)}/recover`, { since });
    subscriptionsNote = `${s.name ?? s.id}: ${r.recovered} ${r.recovered === 1 ? "delivery" : "deliveries"} sent again.`;
  } catch (e) { showFailure($("#subscriptions"), e); return; }
  await Promise.all([load("subscriptions"), load("deliveries")]);
}

// Re-enables a disabled subscription: its held deliveries resume.
async function enable(s) {
  try { await api("PATCH", `/admin/subscriptions/${encodeURIComponent(s.id)}`, { enabled: true }); } catch (e) { showFailure($("#subscriptions"), e); return; }
  subscriptionsNote = `${s.name ?? s.id} is enabled again; its held deliveries resume.`;
  await load("subscriptions");
}

async function retry(d) {
  try { await api("POST", `/admin/deliveries/${encodeURIComponent(d.id)}/retry`); } catch (e) { showFailure($("#deliveries"), e); return; }
  await load("deliveries");
  if ($("#inspector").dataset.result === d.id) await inspect(d.id);
}


// The record browser: one page of a batch's records; `back` holds the earlier pages' cursors.
async function openBatch(key, cursor, back) {
  const view = $("#records-view");
  let data;
  try {
    data = await api("GET", `/admin/batches/${encodeURIComponent(key)}/records?limit=20&cursor=${cursor}`);
  } catch (e) { view.replaceChildren(el("p", { class: "error", "data-state": "error" }, `${e.code}: ${e.message}`)); return; }
  const first = data.records.length ? data.records[0].line + 1 : 0;
  const last = data.records.length ? data.records[data.records.length - 1].line + 1 : 0;
  view.replaceChildren(el("div", { class: "viewer", "data-viewing": key },
    el("h3", {}, "Batch ", el("span", { class: "mono" }, key)),
    el("p", { class: "note", "data-field": "range" }, data.total === 0 ? "This object holds no records." : `Records ${first}–${last} of ${data.total}`),
    el("div", { class: "pager" },
      el("button", { disabled: back.length ? null : "", onclick: () => openBatch(key, back[back.length - 1], back.slice(0, -1)) }, "Previous"),
      el("button", { "data-action": "next", disabled: data.next_cursor === null ? "" : null, onclick: () => openBatch(key, data.next_cursor, [...back, cursor]) }, "Next"),
      el("button", { onclick: () => view.replaceChildren() }, "Close")),
    data.records.map((r) => el("div", { class: "record", "data-line": String(r.line), "data-record-id": r.id ?? "" },
      el("div", { class: "note" }, `line ${r.line + 1}${r.id ? " · id " + r.id : ""}`), pretty(r.record)))));
}

$("#record-find").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const box = $("#record-found");
  const id = $("#record-id").value.trim();
  try {
    const found = await api("GET", `/admin/records/${encodeURIComponent(id)}`);
    box.replaceChildren(el("div", { class: "record", "data-record-id": found.record.id },
      el("div", { class: "note" }, `record ${found.record.id}: line ${found.record.line + 1} of batch `, el("span", { class: "mono" }, found.batch.key)),
      pretty(found.record.record)));
  } catch (e) {
    box.replaceChildren(el("p", { class: "error", "data-state": "error" }, `${e.code}: ${e.message}`));
  }
});

// The delivery inspector: the result, its payload and every attempt with its exchange.
async function inspect(id) {
  const box = $("#inspector");
  box.dataset.result = id;
  let d;
  try { d = await api("GET", `/admin/deliveries/${encodeURIComponent(id)}`); } catch (e) {
    box.replaceChildren(el("p", { class: "error", "data-state": "error" }, `${e.code}: ${e.message}`)); return;
  }
  box.replaceChildren(deliveryView(d, { onRetry: () => retry(d), onClose: () => { box.replaceChildren(); delete box.dataset.result; } }));
  box.scrollIntoView({ block: "nearest" });
}

let replayPoll;

// A datetime-local value (this browser's time zone) as Unix seconds.
const unixOf = (v) => Math.floor(new Date(v).getTime() / 1000);
const localInput = (unix) => {
  const d = new Date(unix * 1000 - new Date().getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 19);
};
{
  const now = Math.floor(Date.now() / 1000);
  $("#replay-from").value = localInput(now - 3600);
  $("#replay-to").value = localInput(now);
}

$("#replay-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const subscriptions = $("#replay-subscriptions").value.split(",").map((s) => s.trim()).filter(Boolean);
  const body = {
    collector: $("#replay-collector").value,
    from: unixOf($("#replay-from").value),
    to: unixOf($("#replay-to").value),
    event_type: $("#replay-type").value.trim(),
    ...(subscriptions.length ? { subscriptions } : {}),
  };
  const box = $("#replay-started");
  try {
    const r = await api("POST", "/admin/replay", body);
    box.replaceChildren(el("p", { class: "note", "data-state": "started", "data-replay": r.id }, `Replay ${r.id} started: its progress is below.`));
  } catch (e) {
    box.replaceChildren(el("p", { class: "error", "data-state": "error" }, `${e.code}: ${e.message}`));
  }
  await load("replays");
});

$("#key-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = {
    name: $("#key-name").value.trim(),
    email: $("#key-email").value.trim(),
    scopes: $("#key-scopes").value.split(",").map((s) => s.trim()).filter(Boolean),
    ttl_days: Number($("#key-ttl").value) || 30,
  };
  const box = $("#new-key");
  try {
    const k = await api("POST", "/admin/keys", body);
    box.replaceChildren(el("div", { class: "secret" },
      el("div", {}, `Key for "${k.name}" — copy it now, it is not shown again:`),
      el("code", { id: "new-key-value" }, k.key)));
    $("#key-form").reset();
  } catch (e) {
    box.replaceChildren(el("p", { class: "error" }, `${e.code}: ${e.message}`));
  }
  await load("keys");
});

async function loadAll() {
  await load("collectors"); // first: its subscription counts feed the subscriptions panel
  await Promise.all(["charts", "batches", "replays", "keys", "subscriptions", "plugins", "deliveries", "audit"].map(load));
}

function signOut(message) {
  // An Access session ends at Access's own logout.
  if (session?.via === "access") { location.assign("/cdn-cgi/access/logout"); return; }
  session = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $("#app").hidden = true;
  $("#logout").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
}

async function signIn() {
  try {
    session = await api("GET", "/admin/whoami");
  } catch (e) {
    if (e.status !== 401) signOut(`${e.code}: ${e.message}`);
    return false;
  }
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#logout").hidden = false;
  document.body.dataset.role = session.role;
  $("#who").textContent = `${session.who} · ${session.role}${session.via === "access" ? " · Cloudflare Access" : ""} · ${location.host}`;
  await loadAll();
  return true;
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("#token").value);
  $("#token").value = "";
  await signIn();
});
$("#logout").addEventListener("click", () => signOut());
$("#stats-hours").addEventListener("change", () => { load("collectors"); load("charts"); });
$("#chart-collector").addEventListener("change", drawCharts);
$("#chart-subscription").addEventListener("change", drawCharts);
{
  let resizing;
  window.addEventListener("resize", () => { clearTimeout(resizing); resizing = setTimeout(drawCharts, 150); });
}
$("#batch-collector").addEventListener("change", () => load("batches"));
$("#batch-hour").addEventListener("change", () => load("batches"));
$("#delivery-status").addEventListener("change", () => load("deliveries"));
// The last 48 hours, newest first, as the hour filter's choices.
{
  const now = Math.floor(Date.now() / 3600000) * 3600;
  for (let i = 0; i < 48; i++) {
    const t = now - i * 3600;
    $("#batch-hour").append(el("option", { value: String(t) }, when(t).slice(0, 14) + "00Z"));
  }
}
for (const b of document.querySelectorAll("[data-refresh]")) b.addEventListener("click", () => load(b.dataset.refresh));

// With a token kept, sign in with it; else Access may have signed this browser in already.
if (sessionStorage.getItem(TOKEN_KEY)) signIn();
else signIn().then((ok) => { if (!ok) signOut(); });
