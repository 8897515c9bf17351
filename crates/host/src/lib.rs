//! Host I/O shared by the agent and the edge: everything that touches the machine.
//!
//! * [`sys`]: TAP devices, epoll, eventfd, socket buffers, CPU pinning: the only
//!   `unsafe` of the host processes, every block with its reason;
//! * [`netns`]: network namespaces and links (with iproute2);
//! * [`forward`]: TCP listeners in a namespace spliced to a target outside it;
//! * [`worker`]: the handle of a data-path thread (commands, wake-up, stop and join);
//! * [`offload`]: the Geneve option that carries a TAP's offload header between hosts;
//! * [`metrics`]: the `/metrics` server (Prometheus text format).

pub mod forward;
pub mod metrics;
pub mod netns;
pub mod offload;
pub mod sys;
pub mod underlay;
pub mod worker;

/// What can go wrong on the host.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// A command (`ip …`) failed: the command and what it said.
    #[error("{0}: {1}")]
    Command(String, String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
