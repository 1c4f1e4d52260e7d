//! The executor the fetch handler runs on: a request's future is polled by whatever woke
//! it, at that moment, never from a queue shared with other requests.
//!
//! wasm-bindgen-futures (what `#[event(fetch)]` uses) puts every woken task on one shared
//! queue and drains it from a `queueMicrotask` callback, so each await costs a closure
//! call, a queue push and a microtask on top of the promise itself, and requests that
//! wake in the same turn are polled from whichever one's microtask runs first. Here the
//! promise callback that completes an await polls the task directly: one call instead of
//! three, and a request's code only ever runs inside a callback of its own (what that
//! saves: docs/PERFORMANCE.md, "Figures behind choices in the code").
//!
//! A wake during the task's own poll (a future waking itself) makes the poll loop go
//! round again instead of nesting. Everything else — `ctx.wait_until`, the queue
//! consumers, cron — stays on wasm-bindgen-futures.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, RawWaker, RawWakerVTable, Waker};

use wasm_bindgen::JsValue;

type Job = Pin<Box<dyn Future<Output = ()>>>;

struct Task {
    job: RefCell<Option<Job>>,
    polling: Cell<bool>,
    woken: Cell<bool>,
}

/// Starts `job`: polls it now, and again each time its waker is called, from the caller
/// of `wake`.
pub fn spawn(job: impl Future<Output = ()> + 'static) {
    let task = Rc::new(Task {
        job: RefCell::new(Some(Box::pin(job))),
        polling: Cell::new(false),
        woken: Cell::new(false),
    });
    run(&task);
}

/// A promise settled by `future`, which runs on this executor.
pub fn promise<F>(future: F) -> js_sys::Promise
where
    F: Future<Output = Result<JsValue, JsValue>> + 'static,
{
    let mut future = Some(future);
    js_sys::Promise::new(&mut |resolve, reject| {
        let Some(future) = future.take() else { return };
        spawn(async move {
            let (settle, value) = match future.await {
                Ok(value) => (resolve, value),
                Err(error) => (reject, error),
            };
            let _ = settle.call1(&JsValue::UNDEFINED, &value);
        });
    })
}

fn run(task: &Rc<Task>) {
    if task.polling.get() {
        task.woken.set(true);
        return;
    }
    task.polling.set(true);
    loop {
        task.woken.set(false);
        let waker = waker(Rc::clone(task));
        let mut slot = task.job.borrow_mut();
        let done = match slot.as_mut() {
            None => true,
            Some(job) => job
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready(),
        };
        if done {
            // Dropped while `polling` is set: a wake from a destructor is ignored.
            *slot = None;
        }
        drop(slot);
        if done || !task.woken.get() {
            break;
        }
    }
    task.polling.set(false);
}

// The waker is an `Rc<Task>` behind the raw pointer. `Waker` promises Send + Sync; the
// wasm32 build has one thread, and natively a task's waker never leaves the thread that
// spawned it (only the unit tests run it there).
static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_raw, wake_raw, wake_by_ref_raw, drop_raw);

fn waker(task: Rc<Task>) -> Waker {
    let raw = RawWaker::new(Rc::into_raw(task).cast(), &VTABLE);
    // SAFETY: the vtable's functions treat the pointer as the `Rc<Task>` made here.
    unsafe { Waker::from_raw(raw) }
}

unsafe fn clone_raw(ptr: *const ()) -> RawWaker {
    // SAFETY: `ptr` came from `Rc::into_raw` in `waker` and is still counted.
    unsafe { Rc::increment_strong_count(ptr.cast::<Task>()) };
    RawWaker::new(ptr, &VTABLE)
}

unsafe fn wake_raw(ptr: *const ()) {
    // SAFETY: as in `clone_raw`; `wake` consumes the waker's count.
    let task = unsafe { Rc::from_raw(ptr.cast::<Task>()) };
    run(&task);
}

unsafe fn wake_by_ref_raw(ptr: *const ()) {
    // SAFETY: as in `clone_raw`; the count stays with the waker.
    let task = ManuallyDrop::new(unsafe { Rc::from_raw(ptr.cast::<Task>()) });
    run(&task);
}

unsafe fn drop_raw(ptr: *const ()) {
    // SAFETY: as in `clone_raw`; this releases the waker's count.
    drop(unsafe { Rc::from_raw(ptr.cast::<Task>()) });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Poll;

    /// A future that is pending until `open` is set, recording every poll in `log`.
    struct Gate {
        open: Rc<Cell<bool>>,
        waker: Rc<RefCell<Option<Waker>>>,
        log: Rc<RefCell<Vec<&'static str>>>,
    }

    impl Future for Gate {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.log.borrow_mut().push("poll");
            if self.open.get() {
                Poll::Ready(())
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    #[test]
    fn a_task_is_polled_inside_the_call_that_wakes_it() {
        let open = Rc::new(Cell::new(false));
        let waker = Rc::new(RefCell::new(None::<Waker>));
        let log = Rc::new(RefCell::new(Vec::new()));
        let gate = Gate {
            open: open.clone(),
            waker: waker.clone(),
            log: log.clone(),
        };
        let done = Rc::new(Cell::new(false));
        let finished = done.clone();
        let after = log.clone();
        spawn(async move {
            gate.await;
            after.borrow_mut().push("after");
            finished.set(true);
        });
        assert_eq!(*log.borrow(), ["poll"], "polled once when spawned");
        assert!(!done.get());

        open.set(true);
        let w = waker.borrow_mut().take().expect("the gate kept a waker");
        w.wake();
        // No queue to drain: the wake itself ran the rest of the task.
        assert_eq!(*log.borrow(), ["poll", "poll", "after"]);
        assert!(done.get());
    }

    #[test]
    fn a_task_that_wakes_itself_is_polled_again_not_nested() {
        let polls = Rc::new(Cell::new(0));
        let depth = Rc::new(Cell::new(0));
        let max_depth = Rc::new(Cell::new(0));
        let (p, d, m) = (polls.clone(), depth.clone(), max_depth.clone());
        spawn(std::future::poll_fn(move |cx| {
            d.set(d.get() + 1);
            m.set(m.get().max(d.get()));
            p.set(p.get() + 1);
            let out = if p.get() < 5 {
                cx.waker().wake_by_ref(); // like a future yielding
                Poll::Pending
            } else {
                Poll::Ready(())
            };
            d.set(d.get() - 1);
            out
        }));
        assert_eq!(polls.get(), 5);
        assert_eq!(max_depth.get(), 1, "never polled from inside its own poll");
    }

    #[test]
    fn waking_a_finished_task_does_nothing() {
        let waker = Rc::new(RefCell::new(None::<Waker>));
        let kept = waker.clone();
        let polls = Rc::new(Cell::new(0));
        let p = polls.clone();
        spawn(std::future::poll_fn(move |cx| {
            p.set(p.get() + 1);
            *kept.borrow_mut() = Some(cx.waker().clone());
            Poll::Ready(())
        }));
        let w = waker.borrow_mut().take().expect("a waker was kept");
        w.wake_by_ref();
        w.wake();
        assert_eq!(polls.get(), 1);
    }
}
