// Design 1: the batch's sender resolves each waiting request's own promise (with "sent",
// or with "lead": send the next batch). Every promise is made by the request awaiting it.
const LEAD = "lead", SENT = "sent", groups = new Map();

export function handoff(name, queue, body, bytes, ctx) {
  let g = groups.get(name);
  if (!g) groups.set(name, (g = { leading: false, waiting: [] }));
  const done = join(g, queue, { body });
  ctx.waitUntil(done.catch(() => {}));
  return done;
}

async function join(g, queue, me) {
  const turn = new Promise((resolve, reject) => Object.assign(me, { resolve, reject }));
  g.waiting.push(me);
  if (!g.leading) {
    g.leading = true;
    me.resolve(LEAD);
  }
  if ((await turn) === LEAD) await lead(g, queue);
}

async function lead(g, queue) {
  const batch = g.waiting.splice(0, 100);
  try {
    await (batch.length === 1 ? queue.send(batch[0].body, { contentType: "json" })
      : queue.sendBatch(batch.map((m) => ({ body: m.body, contentType: "json" }))));
    for (const m of batch.slice(1)) m.resolve(SENT);
  } catch (e) {
    for (const m of batch.slice(1)) m.reject(e);
    throw e;
  } finally {
    if (g.waiting.length) g.waiting[0].resolve(LEAD);
    else g.leading = false;
  }
}
