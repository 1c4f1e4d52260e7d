// The admin page's script (src/http/admin_page.html), served as /admin/page.js: a file of
// its own, so the page's Content-Security-Policy allows no inline script.
"use strict";
const TOKEN_KEY = "edgehook.adminToken";
const $ = (sel, root = document) => root.querySelector(sel);

// Builds an element; strings become text nodes, never HTML.
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children.flat()) e.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return e;
}

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ""}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await r.json(); } catch { /* not JSON */ }
  if (!r.ok) {
    const e = data && data.error ? data.error : { code: "http_" + r.status, message: r.statusText };
    if (r.status === 401) signOut(e.message);
    throw new ApiError(r.status, e.code, e.message);
  }
  return data;
}

const when = (t) => (t ? new Date(t * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : "—");
const table = (head, rows) => el("table", {}, el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))), el("tbody", {}, rows));
const list = (data, key) => (Array.isArray(data) ? data : (data && Array.isArray(data[key]) ? data[key] : []));

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
const loaders = {
  async collectors(section) {
    const stats = await api("GET", `/admin/stats?hours=${$("#stats-hours").value}`);
    lastStats = stats;
    const select = $("#batch-collector");
    for (const c of stats.collectors) {
      if (![...select.options].some((o) => o.value === c.name)) select.append(el("option", { value: c.name }, c.name));
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
    const data = await api("GET", `/admin/batches?limit=50${c ? "&collector=" + encodeURIComponent(c) : ""}`);
    const rows = list(data, "batches");
    $(".body", section).replaceChildren(rows.length === 0 ? el("p", { class: "note" }, "No batches written yet.") :
      table(["written", "collector", "records", "bytes", "R2 key"], rows.map((b) =>
        el("tr", { "data-batch": b.key, "data-collector": b.collector },
          el("td", {}, when(b.created_at)), el("td", {}, b.collector),
          el("td", { class: "num", "data-field": "records" }, String(b.records)),
          el("td", { class: "num" }, String(b.bytes)), el("td", { class: "mono" }, b.key)))));
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
      table(["name", "url", "events", "enabled", "delivered", "failed", "last attempt"], rows.map((s) => {
        const c = counts.get(s.id) || {};
        const last = s.last_attempt || (Array.isArray(s.attempts) ? s.attempts[s.attempts.length - 1] : null);
        return el("tr", { "data-subscription": s.id },
          el("td", {}, s.name ?? s.id), el("td", { class: "mono" }, s.url ?? ""), el("td", {}, (s.events || []).join(", ")),
          el("td", {}, s.enabled === false ? `no${s.disabled_reason ? " (" + s.disabled_reason + ")" : ""}` : "yes"),
          el("td", { class: "num" }, String(c.delivered ?? "—")), el("td", { class: "num" }, String(c.failed ?? "—")),
          el("td", { class: "mono" }, last ? `${when(last.attempted_at)} ${last.status_code ?? ""} ${last.outcome ?? ""} ${last.error ?? ""}` : "—"));
      })));
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

  async deliveries(section) {
    const data = await api("GET", "/admin/deliveries?status=failed");
    const rows = list(data, "deliveries");
    $(".body", section).replaceChildren(rows.length === 0 ? el("p", { class: "note" }, "No failed deliveries.") :
      table(["result", "subscription", "event", "attempts", "last error", ""], rows.map((d) =>
        el("tr", { "data-delivery": d.id },
          el("td", { class: "mono" }, d.id), el("td", {}, d.subscription_name ?? d.subscription_id ?? d.subscription ?? ""),
          el("td", {}, d.event_type ?? ""), el("td", { class: "num" }, String(d.attempts ?? "")),
          el("td", { class: "mono" }, d.last_error ?? d.error ?? ""),
          el("td", {}, el("button", { onclick: () => retry(d) }, "Retry"))))));
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

async function retry(d) {
  try { await api("POST", `/admin/deliveries/${encodeURIComponent(d.id)}/retry`); } catch (e) { showFailure($("#deliveries"), e); return; }
  await load("deliveries");
}

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
  await Promise.all(["batches", "keys", "subscriptions", "plugins", "deliveries"].map(load));
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  $("#app").hidden = true;
  $("#logout").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
}

async function signIn() {
  try {
    await api("GET", "/admin/stats?hours=1");
  } catch (e) {
    if (e.status !== 401) signOut(`${e.code}: ${e.message}`);
    return;
  }
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#logout").hidden = false;
  $("#who").textContent = location.host;
  await loadAll();
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("#token").value);
  $("#token").value = "";
  await signIn();
});
$("#logout").addEventListener("click", () => signOut());
$("#stats-hours").addEventListener("change", () => load("collectors"));
$("#batch-collector").addEventListener("change", () => load("batches"));
for (const b of document.querySelectorAll("[data-refresh]")) b.addEventListener("click", () => load(b.dataset.refresh));

if (sessionStorage.getItem(TOKEN_KEY)) signIn(); else signOut();
