// The subscriber portal's script (src/http/portal_page.html), served as /portal/page.js.
// The link's token arrives in the URL fragment (never sent to a server); it is kept in
// this tab's sessionStorage and sent as Authorization: Bearer to /portal/api/… only.
"use strict";
const LINK_KEY = "edgehook.portalToken";
if (location.hash.length > 1) {
  sessionStorage.setItem(LINK_KEY, decodeURIComponent(location.hash.slice(1)));
  history.replaceState(null, "", location.pathname);
}
const portal = (method, path, body) =>
  request(method, `/portal/api${path}`, body, { authorization: `Bearer ${sessionStorage.getItem(LINK_KEY) || ""}` });

function failed(box, e) {
  box.replaceChildren(el("p", { class: "error", "data-state": "error" }, `${e.code}: ${e.message}`));
}

function noLink(message) {
  $("#app").hidden = true;
  $("#nolink").hidden = false;
  $("#nolink-error").textContent = message || "";
}

async function load() {
  let data;
  try { data = await portal("GET", ""); } catch (e) {
    if (e.status === 401 || e.status === 404) { noLink(`${e.code}: ${e.message}`); return; }
    failed($("#deliveries .body"), e); return;
  }
  const s = data.subscription;
  $("#nolink").hidden = true;
  $("#app").hidden = false;
  $("#sub-name").textContent = s.name;
  $("#subscription .body").replaceChildren(table(["name", "url", "events", "enabled", "headers"], [el("tr", { "data-subscription": s.id },
    el("td", {}, s.name), el("td", { class: "mono" }, target(s)), el("td", {}, (s.events || []).join(", ")),
    el("td", {}, s.enabled === false ? `no${s.disabled_reason ? " (" + s.disabled_reason + ")" : ""}` : "yes"),
    el("td", { class: "mono" }, Object.entries(s.headers || {}).map(([k, v]) => `${k}: ${v}`).join(", ") || "—"))]));
  const rows = data.deliveries;
  $("#deliveries .body").replaceChildren(rows.length === 0
    ? el("p", { class: "note empty", "data-state": "empty" }, "No deliveries yet. Send a test message above to check your endpoint; events appear here as they are delivered.")
    : table(["delivery", "event", "status", "attempts", "last error", ""], rows.map((d) =>
      el("tr", { "data-delivery": d.id },
        el("td", { class: "mono" }, d.id), el("td", {}, d.event_type), el("td", { class: "status-" + d.status }, d.status),
        el("td", { class: "num" }, String(d.attempts)), el("td", { class: "mono" }, d.last_error ?? ""),
        el("td", { class: "actions" }, el("button", { onclick: () => inspect(d.id) }, "Inspect"),
          d.status === "failed" ? el("button", { onclick: () => retry(d.id) }, "Retry") : "")))));
}

async function inspect(id) {
  const box = $("#inspector");
  try {
    const d = await portal("GET", `/deliveries/${encodeURIComponent(id)}`);
    box.replaceChildren(deliveryView(d, { onRetry: () => retry(id), onClose: () => box.replaceChildren() }));
  } catch (e) { failed(box, e); }
}

async function retry(id) {
  try { await portal("POST", `/deliveries/${encodeURIComponent(id)}/retry`); } catch (e) { failed($("#inspector"), e); return; }
  await load();
  await inspect(id);
}

$("#send-test").addEventListener("click", async () => {
  const box = $("#test-result");
  try {
    const t = await portal("POST", "/test");
    box.replaceChildren(el("p", { class: t.outcome === "ok" ? "note" : "error", "data-field": "test-outcome" },
      `Test message: ${t.outcome} (${t.status_code ?? "no answer"}, ${t.duration_ms} ms)${t.error ? " — " + t.error : ""}`));
  } catch (e) { failed(box, e); }
});

$("#rotate").addEventListener("click", async () => {
  if (!confirm("Rotate the secret? The old one keeps signing during the grace period.")) return;
  const box = $("#new-secret");
  try {
    const r = await portal("POST", "/rotate");
    box.replaceChildren(el("div", { class: "secret" },
      el("div", {}, `New secret — copy it now, it is not shown again. The old one signs too until ${when(r.previous_valid_until)}.`),
      el("div", {}, "api_key: ", el("code", { id: "new-api-key" }, r.api_key)),
      el("div", {}, "webhook_secret (Standard Webhooks libraries): ", el("code", {}, r.webhook_secret))));
  } catch (e) { failed(box, e); }
});
document.querySelector('[data-refresh="deliveries"]').addEventListener("click", load);

if (sessionStorage.getItem(LINK_KEY)) load(); else noLink();
