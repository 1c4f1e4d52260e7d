//! Plugins uploaded at runtime and run in their own isolates through the Worker Loader
//! (docs/PLUGINS.md). `bundle` is the pure part (checking, digesting, naming what an
//! upload holds); `egress` the pure part of network grants; `loader` is the glue that
//! starts a version's isolate and calls it.

pub mod bundle;
pub mod egress;
pub mod loader;

/// Largest plugin message (the record going in) and answer (coming out), in bytes: a
/// record over it costs the step its `on_error` outcome without calling the plugin, an
/// answer over it is cut off and counted as an error.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
