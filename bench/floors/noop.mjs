// Floor 1: answers 202 doing nothing but reading the body (a worker that answers before
// the upload ends makes the connection reset under load, which no webhook receiver can
// afford either).
export default {
  async fetch(request) {
    await request.arrayBuffer();
    return new Response('{"status":"accepted"}', {
      status: 202,
      headers: { "content-type": "application/json" },
    });
  },
};
