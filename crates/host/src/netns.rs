//! Network namespaces and links, handled with `ip` (iproute2) as a user would: what the
//! agent's instances and the edge's internet namespace are made of.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::HostError;
use crate::sys;

/// Runs a command, failing with its stderr.
pub fn run(cmd: &mut Command) -> Result<String, HostError> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(HostError::Command(
            format!("{cmd:?}"),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

pub fn ip(args: &[&str]) -> Result<String, HostError> {
    run(Command::new("ip").args(args))
}

/// Does the namespace exist?
pub fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

/// The directory whose files `ip netns exec` mounts over `/etc` in the instance.
pub fn etc_dir(instance_id: &str) -> PathBuf {
    Path::new("/etc/netns").join(instance_id)
}

/// Kills every process in the namespace.
pub fn kill_processes(ns: &str) {
    for _ in 0..10 {
        let Ok(out) = ip(&["netns", "pids", ns]) else {
            return;
        };
        let pids: Vec<i32> = out
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if pids.is_empty() {
            return;
        }
        for p in pids {
            sys::kill(p);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes the namespace (killing what runs in it first) and `/etc/netns/ID`.
pub fn remove_namespace(ns: &str) {
    if netns_exists(ns) {
        kill_processes(ns);
        if let Err(e) = ip(&["netns", "del", ns]) {
            tracing::warn!(namespace = ns, error = %e, "cannot delete the namespace");
        }
    }
    let etc = etc_dir(ns);
    if etc.exists() {
        let _ = std::fs::remove_dir_all(&etc);
    }
}
