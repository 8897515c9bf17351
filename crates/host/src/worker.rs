//! The handle of a data-path thread (the agent's, the edge's): commands go through a
//! channel and an eventfd wakes the thread's epoll, so the thread never blocks on the
//! channel; dropping the handle stops and joins the thread.

use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use crate::sys::EventFd;

pub struct Worker<C: Send + 'static> {
    tx: mpsc::Sender<C>,
    wake: Arc<EventFd>,
    thread: Option<JoinHandle<()>>,
    /// The command that makes the thread return.
    stop: fn() -> C,
}

impl<C: Send + 'static> Worker<C> {
    pub fn new(
        tx: mpsc::Sender<C>,
        wake: Arc<EventFd>,
        thread: JoinHandle<()>,
        stop: fn() -> C,
    ) -> Worker<C> {
        Worker {
            tx,
            wake,
            thread: Some(thread),
            stop,
        }
    }

    pub fn send(&self, c: C) {
        if self.tx.send(c).is_ok() {
            self.wake.notify();
        }
    }

    /// A function that queues a command and wakes the thread (for another thread).
    pub fn sender(&self) -> impl Fn(C) + Send + 'static {
        let (tx, wake) = (self.tx.clone(), self.wake.clone());
        move |c| {
            if tx.send(c).is_ok() {
                wake.notify();
            }
        }
    }

    /// Stops the thread and waits for it (once).
    pub fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.send((self.stop)());
            let _ = t.join();
        }
    }
}

impl<C: Send + 'static> Drop for Worker<C> {
    fn drop(&mut self) {
        self.stop();
    }
}
