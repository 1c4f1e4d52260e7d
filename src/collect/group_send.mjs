// Group commit of queue sends (docs/PERFORMANCE.md), without a timer: a webhook that
// finds no send in flight sends its record at once, alone; those arriving while a send is
// in flight wait, and the first of them to look after it settles sends the records
// waiting packed in one message (an array, up to the 128 KB a message holds), from its
// own request. A lone webhook never waits; under load the sends group themselves, and a
// queue operation carries many records (the consumer unpacks them: src/collect/pack.rs).
// A record over ALONE_BYTES is sent alone, at once, and never waits.
//
// The ingest queue may be sharded over several queues (`queues.ingest_shards`, for more
// than one queue's 5 000 messages a second): each message goes to the next of the group's
// queues in turn, so packing is unchanged and an isolate's messages spread evenly.
//
// Each webhook learns its own record's outcome: groupSend resolves once the message holding
// it is on the queue and rejects with the error if that send failed, so the Rust side
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
// hanging up cancels neither a pack it is sending nor its place in the queue; if a send
// stays unsettled for STUCK_MS, the next pack starts anyway, so one stuck call never
// holds up every later webhook.

/** A queue message holds at most 128 KB (MAX_MESSAGE_BYTES of src/collect/group_send.rs).
 * Callers pass each record's size as an upper bound of its message, never an estimate;
 * the bound's room for a record's other fields covers its place in a pack's array. */
export const MAX_PACK_BYTES = 128_000;
/** Messages go as V8-serialised objects: the runtime copies their strings as they are,
 * where content type "json" would write every one out as JSON first. */
export const CONTENT_TYPE = "v8";
/** A record over this many bytes is sent alone, at once, never waiting: a pack holds at
 * most four of them, and waiting costs them more than the operations saved. Measured
 * (docs/PERFORMANCE.md): at 64 KiB sending alone took workerd CPU per webhook from 2 104
 * to 1 725 µs; at 16 and 32 KiB grouped and alone were level. */
export const ALONE_BYTES = 32_000;
/** How long a send may stay unsettled before the next one starts anyway. */
export const STUCK_MS = 5_000;
/** How often a waiting webhook looks whether its pack has settled. */
export const POLL_MS = 1;

/** One group per queue binding name: the waiting records, the pack in flight, and how
 * many messages it has sent (which of its queues is next). */
const groups = new Map();

function group(name) {
  let g = groups.get(name);
  if (!g) {
    g = { waiting: [], inflight: null, sent: 0 };
    groups.set(name, g);
  }
  return g;
}

/** The queue the group's next message goes to. */
function next(g, queues) {
  const queue = queues[g.sent % queues.length];
  g.sent += 1;
  return queue;
}

/**
 * Sends `body` (a message of at most `bytes` bytes as sent) to one of `queues` (the
 * shards of the queue named `name`, each message to the next in turn), grouped with the
 * other sends to `name` in this isolate. Resolves when the message is on the queue;
 * rejects with the send's error.
 */
export function groupSend(name, queues, body, bytes, ctx, now = Date.now) {
  const g = group(name);
  const done =
    bytes > ALONE_BYTES
      ? next(g, queues).send(body, { contentType: CONTENT_TYPE })
      : send(g, queues, { body, bytes, settled: false, error: null }, now);
  ctx.waitUntil(done.catch(() => {}));
  return done;
}

async function send(g, queues, me, now) {
  g.waiting.push(me);
  while (!me.settled) {
    const busy = g.inflight !== null && now() - g.inflight.since < STUCK_MS;
    // Nothing left to take means this record is in the pack in flight.
    if (busy || g.waiting.length === 0) await sleep(POLL_MS);
    else await lead(g, queues, now);
  }
  if (me.error) throw me.error;
}

/** Takes the next pack off the front of `waiting`: as many records as one message holds. */
export function take(waiting) {
  let bytes = waiting[0].bytes;
  let n = 1;
  while (n < waiting.length && bytes + waiting[n].bytes <= MAX_PACK_BYTES) {
    bytes += waiting[n].bytes;
    n += 1;
  }
  return waiting.splice(0, n);
}

async function lead(g, queues, now) {
  const pack = take(g.waiting);
  const flight = { since: now() };
  g.inflight = flight;
  try {
    const body = pack.length === 1 ? pack[0].body : pack.map((m) => m.body);
    await next(g, queues).send(body, { contentType: CONTENT_TYPE });
  } catch (e) {
    for (const m of pack) m.error = e;
  } finally {
    for (const m of pack) m.settled = true;
    if (g.inflight === flight) g.inflight = null;
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
