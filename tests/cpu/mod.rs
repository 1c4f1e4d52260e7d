//! This thread's CPU time, for tests that compare costs: other work on a loaded machine
//! does not count (shared by `tests/hostile_paths.rs` and `tests/body_linear.rs`).

use std::time::Duration;

/// Time this thread has spent on a CPU, so other work on a loaded machine does not count.
pub fn cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `t` is. The one unsafe call of the
    // tests' CPU clock, allowed here alone ([lints] denies unsafe_code).
    #[allow(unsafe_code)]
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0;
    assert!(ok, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}
