// Design 2: the first request of each batch sends it, after awaiting the previous batch's
// promise; the others await (follow) the promise their batch's sender made.
const groups = new Map();

export function follow(name, queue, body, bytes, ctx) {
  let g = groups.get(name);
  if (!g) groups.set(name, (g = { open: null, tail: null }));
  let batch = g.open;
  if (!batch || batch.bodies.length >= 100) {
    batch = { bodies: [body] };
    g.open = batch;
    batch.done = send(g, batch, g.tail, queue);
    g.tail = batch.done;
  } else {
    batch.bodies.push(body);
  }
  const mine = batch.done.then(() => {});
  ctx.waitUntil(mine.catch(() => {}));
  return mine;
}

async function send(g, batch, previous, queue) {
  if (previous) await previous.catch(() => {});
  if (g.open === batch) g.open = null;
  const b = batch.bodies;
  await (b.length === 1 ? queue.send(b[0], { contentType: "json" })
    : queue.sendBatch(b.map((x) => ({ body: x, contentType: "json" }))));
}
