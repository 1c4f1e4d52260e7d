// Shared by the admin page and the subscriber portal (served as /admin/common.js): element
// building (strings become text nodes, never HTML), JSON calls, and the delivery view.
"use strict";
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

// Calls a JSON route; a non-2xx answer throws its error code and message.
async function request(method, path, body, headers = {}) {
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await r.json(); } catch { /* not JSON */ }
  if (!r.ok) {
    const e = data && data.error ? data.error : { code: "http_" + r.status, message: r.statusText };
    throw new ApiError(r.status, e.code, e.message);
  }
  return data;
}

const when = (t) => (t ? new Date(t * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : "—");
const table = (head, rows) => el("table", {}, el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))), el("tbody", {}, rows));
// Where a subscription's deliveries go: its URL, or its destination as attempts record it
// (`queue:NAME`, `r2:NAME/prefix`, `service:NAME/path`).
const target = (s) => {
  const d = s.destination;
  if (s.url || !d) return s.url ?? "";
  const rest = d.kind === "r2" ? "/" + (d.prefix ?? "") : d.kind === "service" ? (d.path ?? "/") : "";
  return `${d.kind}:${d.binding}${rest}`;
};
const list = (data, key) => (Array.isArray(data) ? data : (data && Array.isArray(data[key]) ? data[key] : []));
const pretty = (v) => el("pre", { class: "json" }, typeof v === "string" ? v : JSON.stringify(v, null, 2));
const headerTable = (pairs) => (pairs && pairs.length
  ? table(["header", "value"], pairs.map(([k, v]) => el("tr", {}, el("td", { class: "mono" }, k), el("td", { class: "mono" }, v))))
  : el("p", { class: "note" }, "none"));

// The delivery inspector's view: the result, its payload and every attempt with what it
// sent (secrets masked) and what the subscriber answered.
function deliveryView(d, { onRetry, onClose }) {
  const attempts = d.attempts || [];
  return el("div", { class: "viewer", "data-inspecting": d.id },
    el("h3", {}, "Delivery ", el("span", { class: "mono" }, d.id),
      d.status === "failed" ? el("button", { onclick: onRetry }, "Retry") : "",
      el("button", { onclick: onClose }, "Close")),
    table(["subscription", "event", "status", "next attempt", "last error"], [el("tr", {},
      el("td", {}, d.subscription_name ?? d.subscription_id), el("td", {}, d.event_type),
      el("td", { class: "status-" + d.status, "data-field": "status" }, d.status),
      el("td", {}, d.next_attempt_at ? when(d.next_attempt_at) : "none scheduled"), el("td", { class: "mono" }, d.last_error ?? ""))]),
    el("details", {}, el("summary", {}, "Payload"), pretty(d.payload)),
    d.results ? el("details", {}, el("summary", {}, "Subscriber's results"), pretty(d.results)) : "",
    attempts.length === 0 ? el("p", { class: "note empty" }, "No attempt yet: the first one is queued.") : "",
    attempts.map((a) => {
      const x = a.exchange;
      return el("details", { class: "attempt", "data-attempt": String(a.attempt), open: a.attempt === attempts.length ? "" : null },
        el("summary", {}, `Attempt ${a.attempt} · ${when(a.attempted_at)} · ${a.status_code ?? "no answer"} ${a.outcome} · ${a.duration_ms} ms`
          + (a.retry_in_secs ? ` · retry in ${a.retry_in_secs} s` : "")),
        a.error ? el("p", { class: "error mono" }, a.error) : "",
        x ? [
          el("p", { class: "note" }, "POST ", el("span", { class: "mono" }, x.url)),
          el("h4", {}, "Request headers (secrets masked)"), headerTable(x.request_headers),
          el("h4", {}, "Answer headers"), headerTable(x.response_headers),
          el("h4", {}, `Answer body${x.response_cut ? " (first 4 KiB)" : ""}`),
          x.response_body ? el("pre", { class: "json", "data-field": "response-body" }, x.response_body) : el("p", { class: "note" }, "empty"),
        ] : el("p", { class: "note" }, "Nothing was sent on this attempt."));
    }));
}
