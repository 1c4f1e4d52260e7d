// edgehook's main module for a plugin uploaded as one .wasm built with the SDK
// (sdk/edgehook-plugin). It runs in the plugin's own isolate: the request body (the
// plugin message, JSON) is copied into the module's memory, `edgehook_process` answers
// with a packed (pointer << 32 | length) of the answer's JSON. A trap (panic, out of
// memory) answers `{"action":"error"}` and the next request gets a fresh instance.
import module from "plugin.wasm";

let instance = null;

function process(input) {
  instance ??= new WebAssembly.Instance(module, {});
  const { memory, edgehook_alloc, edgehook_process } = instance.exports;
  const ptr = edgehook_alloc(input.length) >>> 0;
  new Uint8Array(memory.buffer, ptr, input.length).set(input);
  const packed = BigInt.asUintN(64, edgehook_process(ptr, input.length));
  const at = Number(packed >> 32n);
  const length = Number(packed & 0xffffffffn);
  return new Uint8Array(memory.buffer, at, length).slice();
}

export default {
  async fetch(request) {
    const input = new Uint8Array(await request.arrayBuffer());
    try {
      return new Response(process(input), { headers: { "content-type": "application/json" } });
    } catch (e) {
      instance = null;
      return Response.json({ action: "error", content: `the plugin trapped: ${e}` });
    }
  },
};
