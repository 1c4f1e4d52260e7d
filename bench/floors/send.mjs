// Floor 2: sends the raw body to the INGEST queue and answers 202: the I/O every
// collector must do, and nothing else.
export default {
  async fetch(request, env) {
    await env.INGEST.send(await request.text());
    return new Response('{"status":"accepted"}', {
      status: 202,
      headers: { "content-type": "application/json" },
    });
  },
};
