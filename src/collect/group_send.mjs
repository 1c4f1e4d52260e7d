// Group commit of queue sends (docs/PERFORMANCE.md): the webhooks one isolate is accepting
// at the same moment share one `sendBatch`, because a queue call costs more than a message
// in it. A webhook first waits GATHER_MS, so that those arriving within that millisecond
// share a call; then the first of them to look sends everything waiting (up to
// sendBatch's limits) in one call, from its own request. Those that arrive while a send
// is in flight wait; the first of them to look after it settles sends the next batch. A
// message over ALONE_BYTES is sent alone, at once, and never waits.
//
// Each webhook learns its own message's outcome: groupSend resolves once the message is on
// the queue and rejects with the error if the batch holding it failed, so the Rust side
// answers 202 or 503 exactly as for a single send.
//
// Why waiting is a poll on the request's own timer and not a promise another request
// resolves: on Workers every request has its own I/O context, and a continuation resumed
// by a promise that another request settled (resolved by it, or made by it and awaited)
// does not reliably run in the waiting request's context. Measured under load in workerd
// (bench/experiments/cross-request.mjs): such continuations sometimes ran in the other
// request's context, where the waiter's own objects (its Response, its queue send) throw
// "Cannot perform I/O on behalf of a different request". Here no request ever resumes
// another: each learns its outcome from shared state when its own timer fires, and every
// send is made by a request that is running in its own context.
//
// A request that is waiting or sending keeps itself alive with waitUntil, so a sender
// hanging up cancels neither a batch it is sending nor its place in the queue; if a send
// stays unsettled for STUCK_MS, the next batch starts anyway, so one stuck call never
// holds up every later webhook.

/** sendBatch takes at most 100 messages. */
export const MAX_MESSAGES = 100;
/** sendBatch takes at most 256 KB; the rest is room for per-message metadata. Callers pass
 * each message's size as an upper bound (src/http/group_send.rs), never an estimate. */
export const MAX_BYTES = 240_000;
/** Messages go as V8-serialised objects: the runtime copies their strings as they are,
 * where content type "json" would write every one out as JSON first. */
export const CONTENT_TYPE = "v8";
/** A message over this many bytes is sent alone, at once, with `send`, never grouped: a
 * batch of such messages holds at most seven, and sendBatch writes every message out in
 * base64 inside a JSON body (send passes it as it is), which at that size costs more than
 * the calls saved; the waiters' polling adds to it. Measured (docs/PERFORMANCE.md): at
 * 64 KiB sending alone took workerd CPU per webhook from 2 104 to 1 725 µs; at 16 and
 * 32 KiB grouped and alone were level. */
export const ALONE_BYTES = 32_000;
/** How long a webhook waits for others to share its call before sending. Measured
 * (docs/PERFORMANCE.md): at 1 KiB, 1 197 -> 1 355 and 1 120 -> 1 364 req/s, 833 -> 733 and
 * 881 -> 729 µs of workerd CPU per webhook, p99 24 -> 22 and 32 -> 22 ms, against sending
 * at once when nothing is in flight; a lone webhook is answered ~1 ms later. */
export const GATHER_MS = 1;
/** How long a batch may stay unsettled before the next one starts anyway. */
export const STUCK_MS = 5_000;
/** How often a waiting webhook looks whether its batch has settled. */
export const POLL_MS = 1;

/** One group per queue binding name: the waiting messages and the batch in flight. */
const groups = new Map();

function group(name) {
  let g = groups.get(name);
  if (!g) {
    g = { waiting: [], inflight: null };
    groups.set(name, g);
  }
  return g;
}

/**
 * Sends `body` (a message of at most `bytes` bytes as sent) to `queue`, grouped
 * with the other sends to the queue named `name` in this isolate. Resolves when the
 * message is on the queue; rejects with the send's error.
 */
export function groupSend(name, queue, body, bytes, ctx, now = Date.now) {
  const done =
    bytes > ALONE_BYTES
      ? queue.send(body, { contentType: CONTENT_TYPE })
      : send(group(name), queue, { body, bytes, settled: false, error: null }, now);
  ctx.waitUntil(done.catch(() => {}));
  return done;
}

async function send(g, queue, me, now) {
  g.waiting.push(me);
  await sleep(GATHER_MS);
  while (!me.settled) {
    const busy = g.inflight !== null && now() - g.inflight.since < STUCK_MS;
    // Nothing left to take means this message is in the batch in flight.
    if (busy || g.waiting.length === 0) await sleep(POLL_MS);
    else await lead(g, queue, now);
  }
  if (me.error) throw me.error;
}

/** Takes the next batch off the front of `waiting`: as many as sendBatch takes. */
export function take(waiting) {
  let bytes = waiting[0].bytes;
  let n = 1;
  while (n < waiting.length && n < MAX_MESSAGES && bytes + waiting[n].bytes <= MAX_BYTES) {
    bytes += waiting[n].bytes;
    n += 1;
  }
  return waiting.splice(0, n);
}

async function lead(g, queue, now) {
  const batch = take(g.waiting);
  const flight = { since: now() };
  g.inflight = flight;
  try {
    await (batch.length === 1
      ? queue.send(batch[0].body, { contentType: CONTENT_TYPE })
      : queue.sendBatch(batch.map((m) => ({ body: m.body, contentType: CONTENT_TYPE }))));
  } catch (e) {
    for (const m of batch) m.error = e;
  } finally {
    for (const m of batch) m.settled = true;
    if (g.inflight === flight) g.inflight = null;
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
