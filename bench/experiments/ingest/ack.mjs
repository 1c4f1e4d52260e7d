// Ingest floor: acks every message and does nothing else (the delivery's own cost).
export default {
  async queue(batch) {
    batch.ackAll();
  },
};
