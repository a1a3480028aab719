//! Events in order, with the digests hashed on the helper thread filled
//! in ([`botscope_proto::offload`]).
//!
//! An event whose body hash is still being computed is held, and every
//! event after it waits behind it, so that rows of one shard leave in the
//! order they were made. A held event leaves as soon as its digest is
//! ready (looked at on every emit), at the latest when more than
//! [`MAX_HELD`] events wait or at the end ([`Ordered::into_inner`]).

use std::collections::VecDeque;

use botscope_event::{Event, EventSink};
use botscope_proto::offload;

/// Events held before the oldest is waited for.
pub const MAX_HELD: usize = 4096;

/// A sink that fills in offloaded digests and keeps event order.
pub struct Ordered<S> {
    inner: S,
    held: VecDeque<Event>,
}

impl<S: EventSink> Ordered<S> {
    pub fn new(inner: S) -> Self {
        Ordered {
            inner,
            held: VecDeque::new(),
        }
    }

    /// Every held event, digests waited for, then the sink.
    pub fn into_inner(mut self) -> S {
        self.release(true);
        self.inner
    }

    fn release(&mut self, wait_all: bool) {
        loop {
            let wait = wait_all || self.held.len() > MAX_HELD;
            let Some(ev) = self.held.front_mut() else {
                return;
            };
            if !fill(ev, wait) {
                return;
            }
            if let Some(ev) = self.held.pop_front() {
                self.inner.emit(ev);
            }
        }
    }
}

impl<S: EventSink> EventSink for Ordered<S> {
    fn emit(&mut self, ev: Event) {
        if self.held.is_empty() && !pending(&ev) {
            self.inner.emit(ev);
            return;
        }
        self.held.push_back(ev);
        self.release(false);
    }
}

/// The event's hash fields that may hold a placeholder.
fn fields(ev: &mut Event) -> [Option<&mut Option<String>>; 2] {
    match ev {
        Event::File(f) => [Some(&mut f.sha256), None],
        Event::Http(h) => [Some(&mut h.req_body_sha256), Some(&mut h.resp_body_sha256)],
        _ => [None, None],
    }
}

fn is_pending(f: &Option<String>) -> bool {
    f.as_deref().is_some_and(offload::is_placeholder)
}

fn pending(ev: &Event) -> bool {
    match ev {
        Event::File(f) => is_pending(&f.sha256),
        Event::Http(h) => is_pending(&h.req_body_sha256) || is_pending(&h.resp_body_sha256),
        _ => false,
    }
}

/// Replace the event's placeholders by digests; false when one is not
/// ready and `wait` is false. A digest that will never come leaves the
/// field empty, as for a body not hashed (and files.log names no
/// analyzer for it).
fn fill(ev: &mut Event, wait: bool) -> bool {
    let mut filled = true;
    let mut lost = false;
    for f in fields(ev).into_iter().flatten() {
        let Some(p) = f.as_deref().filter(|s| offload::is_placeholder(s)) else {
            continue;
        };
        match offload::resolve(p, wait) {
            Ok(Some(hex)) => *f = Some(hex),
            Ok(None) => {
                *f = None;
                lost = true;
            }
            Err(()) => filled = false,
        }
    }
    if lost {
        if let Event::File(f) = ev {
            f.analyzers.retain(|a| *a != "SHA256");
        }
    }
    filled
}
