// Not a floor itself: the bench's plugin (its code in the PLUGIN_JS binding) as the floor
// js-hmac-plugin.mjs and bench/experiments/plugin-call load it through the Worker Loader
// binding LOADER: one isolate, no bindings, no network.
export function benchPlugin(env) {
  return env.LOADER.get("bench-plugin", () => ({
    compatibilityDate: "2026-07-30",
    mainModule: "plugin.js",
    modules: { "plugin.js": env.PLUGIN_JS },
    env: {},
    globalOutbound: null,
  }));
}
