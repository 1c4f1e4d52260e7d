// Ingest floor: what every consumer of these records must do per batch: one NDJSON object
// in R2 and one row in D1, then ack.
export default {
  async queue(batch, env) {
    const body = batch.messages.map((m) => m.body.line).join("\n") + "\n";
    const key = `bench/${batch.messages[0].body.id}.ndjson`;
    await env.ARCHIVE.put(key, body, { httpMetadata: { contentType: "application/x-ndjson" } });
    await env.DB.prepare("INSERT INTO batches (key, collector, records, bytes, created_at) VALUES (?, ?, ?, ?, ?)")
      .bind(key, "amo", batch.messages.length, body.length, Math.floor(Date.now() / 1000)).run();
    batch.ackAll();
  },
};
