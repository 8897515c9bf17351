//! Makes the machine match the program: an instance namespace with its TAP for each port
//! placed on this host, nothing for ports that left.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use fort_dataplane::HostProgram;
use fort_sync::client::Status;
use fort_sync::host_state::{self, MemberList, ProgramQueue, V2pChange};
use tokio::sync::watch;

use crate::datapath;
use crate::endpoint;
use crate::instance::{self, Attachment, DhcpClient};
use fort_host::netns::remove_namespace;
use fort_host::sys::Tap;

/// What the reconciler is told.
pub enum Msg {
    /// One update of the program: a new structure (without V2P) if it changed, and the
    /// V2P changes, in order.
    Update {
        /// The update's place: reported applied once the data path runs with it.
        epoch: u64,
        generation: u64,
        structure: Option<Box<HostProgram>>,
        /// Groups whose members changed, when nothing else of the structure did.
        members: Vec<MemberList>,
        snapshot: bool,
        v2p: Vec<V2pChange>,
        /// The endpoint interfaces and what they serve, with every new structure.
        endpoints: Option<BTreeMap<String, endpoint::Served>>,
    },
    /// Stop; clean up unless `keep`.
    Stop,
}

pub struct Reconciler {
    pub dp: datapath::Handle,
    /// The kernel fast path, if any: each attached ENI gets a conduit there.
    pub fast: Option<Arc<fort_fastpath::FastPath>>,
    pub next_fast_port: u32,
    pub attached: BTreeMap<String, (Attachment, Arc<Tap>, Option<fort_fastpath::PortId>)>,
    pub dhcp: Option<DhcpClient>,
    pub script: PathBuf,
    pub run_dir: PathBuf,
    pub keep: bool,
    /// TAP segmentation offload: on when the underlay carries ~64 KiB datagrams.
    pub tso: bool,
    /// The MTU of instances' interfaces (DHCP gives the same).
    pub instance_mtu: u16,
    pub host_id: String,
    /// Instances an earlier run left in place (`--keep`), from `RUN_DIR/instances`:
    /// removed after the first program unless it still places them here.
    pub adopted: Vec<String>,
    /// The runtime the endpoint forwarders run on.
    pub runtime: tokio::runtime::Handle,
    /// The endpoint interfaces of the program, and what they serve.
    pub served: BTreeMap<String, endpoint::Served>,
    /// The forwarder answering in each endpoint interface's namespace.
    pub forwarders: BTreeMap<String, endpoint::Forwarder>,
    /// The TLS the forwarders end on port 443, if the agent has a certificate.
    pub endpoint_tls: Option<Arc<rustls::ServerConfig>>,
}

/// The file where the agent lists the instances it holds (for a restart with `--keep`).
pub fn instances_file(run_dir: &std::path::Path) -> PathBuf {
    run_dir.join("instances")
}

/// The instance ids listed by an earlier run.
pub fn load_adopted(run_dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(instances_file(run_dir))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| crate::names::is_instance_id(l) || crate::names::is_eni_id(l))
        .map(str::to_string)
        .collect()
}

impl Reconciler {
    /// Runs until `Stop` (or the sender goes away). `status` says which generation the
    /// data path runs with, or why it runs with none.
    pub fn run(mut self, rx: mpsc::Receiver<Msg>, status: watch::Sender<Status>) {
        // the newest structure, whether the data path has it, and the V2P changes it
        // has not seen yet
        let mut last: Option<Box<HostProgram>> = None;
        let mut fresh = false;
        let mut v2p = ProgramQueue::default();
        let mut retry = false;
        // The newest (epoch, generation) handed to the data path.
        let mut position = (0, 0);
        loop {
            let msg = if retry {
                rx.recv_timeout(Duration::from_secs(1))
            } else {
                rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected)
            };
            let mut stop = false;
            let mut take = |m: Msg| match m {
                Msg::Update {
                    epoch,
                    generation,
                    structure,
                    members,
                    snapshot,
                    v2p: changes,
                    endpoints,
                } => {
                    position = (epoch, generation);
                    if let Some(e) = endpoints {
                        self.served = e;
                    }
                    if let Some(s) = structure {
                        last = Some(s);
                        fresh = true;
                        v2p.structure_changed();
                    }
                    if let Some(p) = last.as_mut() {
                        // kept current: a structure sent again must not undo them
                        host_state::patch_members(p, &members);
                    }
                    v2p.push_members(members);
                    v2p.push(snapshot, changes);
                }
                Msg::Stop => stop = true,
            };
            match msg {
                Ok(m) => take(m),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            // apply what queued up in one pass
            while let Ok(m) = rx.try_recv() {
                take(m);
            }
            if stop {
                break;
            }
            if let Some(p) = &last {
                let structure = std::mem::take(&mut fresh).then(|| (**p).clone());
                let (complete, programmed) = self.reconcile(p, structure, std::mem::take(&mut v2p));
                retry = !complete;
                let (epoch, generation) = position;
                status.send_replace(match programmed {
                    Ok(()) => Status {
                        epoch,
                        generation,
                        problem: None,
                    },
                    Err(problem) => {
                        tracing::error!(host = self.host_id, problem, "host unhealthy");
                        // The data path may still take the program: try again soon.
                        retry = true;
                        fresh = true;
                        Status {
                            problem: Some(problem),
                            ..status.borrow().clone()
                        }
                    }
                });
            }
        }
        self.shutdown();
    }

    /// One pass: whether every port could be set up (else it is retried), and whether the
    /// data path took the program (else why not).
    fn reconcile(
        &mut self,
        program: &HostProgram,
        structure: Option<HostProgram>,
        v2p: ProgramQueue,
    ) -> (bool, Result<(), String>) {
        let desired: BTreeMap<String, Attachment> = program
            .ports
            .iter()
            .filter_map(|p| {
                let a = if self.served.contains_key(&p.id) {
                    Attachment::of_endpoint(p, program)
                } else {
                    Attachment::of(p, program)
                };
                a.map(|a| (p.id.clone(), a))
            })
            .collect();
        let gone: Vec<String> = self
            .attached
            .iter()
            .filter(|(eni, (a, _, _))| {
                desired.get(*eni).is_none_or(|d| {
                    d.instance_id != a.instance_id
                        || d.device_index != a.device_index
                        || d.mac != a.mac
                        || d.endpoint != a.endpoint
                })
            })
            .map(|(eni, _)| eni.clone())
            .collect();
        let mut removed = Vec::new();
        for eni in &gone {
            // its connections end before its namespace goes
            if let Some(f) = self.forwarders.remove(eni) {
                f.stop();
            }
            if let Some(x) = self.attached.remove(eni) {
                removed.push(x);
            }
        }
        let mut ok = true;
        let mut fresh = Vec::new();
        for (eni, a) in &desired {
            if self.attached.contains_key(eni) {
                continue;
            }
            match instance::attach(a, self.tso, self.instance_mtu) {
                Ok((tap, again)) => {
                    tracing::info!(
                        host = self.host_id,
                        eni,
                        instance = a.instance_id,
                        tap = tap.name(),
                        reattached = again,
                        "instance attached"
                    );
                    let fast = self.attach_fast(a);
                    self.attached.insert(eni.clone(), (a.clone(), tap, fast));
                    if !(again && instance::has_address(a)) {
                        fresh.push(a.clone());
                    }
                }
                Err(e) => {
                    tracing::warn!(host = self.host_id, eni, instance = a.instance_id, error = %e, "cannot attach; will retry");
                    ok = false;
                }
            }
        }
        let taps = self
            .attached
            .iter()
            .map(|(eni, (a, tap, fast))| datapath::TapPort {
                eni: eni.clone(),
                instance: a.instance_id.clone(),
                tap: tap.clone(),
                fast: *fast,
            })
            .collect();
        let programmed = datapath::program(&self.dp, structure, v2p, taps);
        for (a, tap, fast) in removed {
            self.detach_fast(fast);
            instance::detach(tap);
            if !self
                .attached
                .values()
                .any(|(b, _, _)| b.instance_id == a.instance_id)
            {
                remove_namespace(&a.instance_id);
                tracing::info!(
                    host = self.host_id,
                    instance = a.instance_id,
                    "instance removed"
                );
            }
        }
        for ns in std::mem::take(&mut self.adopted) {
            if !self.attached.values().any(|(a, _, _)| a.instance_id == ns) {
                tracing::info!(
                    host = self.host_id,
                    instance = ns,
                    "removing an instance left by an earlier run"
                );
                remove_namespace(&ns);
            }
        }
        let mut list: Vec<&str> = self
            .attached
            .values()
            .map(|(a, _, _)| a.instance_id.as_str())
            .collect();
        list.sort_unstable();
        list.dedup();
        if let Err(e) = std::fs::write(instances_file(&self.run_dir), list.join("\n") + "\n") {
            // Without the list, a restart with --keep would not find these instances.
            tracing::error!(host = self.host_id, error = %e, "cannot record the instances held");
            ok = false;
        }
        for a in fresh.iter().filter(|a| a.endpoint) {
            if let Err(e) = instance::configure_static(a, self.instance_mtu) {
                tracing::warn!(host = self.host_id, eni = a.eni_id, error = %e, "cannot configure the endpoint interface; will retry");
                ok = false;
            }
        }
        ok &= self.forward();
        for a in fresh.into_iter().filter(|a| !a.endpoint) {
            let (client, script, run_dir, mtu) = (
                self.dhcp.clone(),
                self.script.clone(),
                self.run_dir.clone(),
                self.instance_mtu,
            );
            let spawned = std::thread::Builder::new()
                .name(format!("dhcp-{}", a.instance_id))
                .spawn(move || instance::configure(&a, client.as_ref(), &script, &run_dir, mtu));
            if let Err(e) = spawned {
                tracing::error!(host = self.host_id, error = %e, "cannot start the DHCP client");
                ok = false;
            }
        }
        (ok, programmed)
    }

    /// Starts a forwarder in each endpoint interface's namespace that has none (or one to
    /// another address), and stops those no longer wanted: whether all could start.
    fn forward(&mut self) -> bool {
        let mut ok = true;
        let wanted: BTreeMap<String, (std::net::SocketAddrV4, endpoint::Served)> = self
            .attached
            .iter()
            .filter(|(_, (a, _, _))| a.endpoint)
            .filter_map(|(eni, _)| {
                let served = self.served.get(eni)?;
                Some((eni.clone(), (served.target?, served.clone())))
            })
            .collect();
        let stale: Vec<String> = self
            .forwarders
            .iter()
            .filter(|(eni, f)| wanted.get(*eni).map(|(t, _)| t) != Some(&f.target))
            .map(|(eni, _)| eni.clone())
            .collect();
        for eni in stale {
            if let Some(f) = self.forwarders.remove(&eni) {
                f.stop();
            }
        }
        for (eni, (target, served)) in wanted {
            if self.forwarders.contains_key(&eni) {
                continue;
            }
            match endpoint::forward(
                &eni,
                &served,
                target,
                self.endpoint_tls.clone(),
                &self.runtime,
            ) {
                Ok(f) => {
                    tracing::info!(host = self.host_id, eni, %target, "endpoint interface forwards to the API");
                    self.forwarders.insert(eni, f);
                }
                Err(e) => {
                    tracing::warn!(host = self.host_id, eni, error = %e, "cannot start the endpoint forwarder; will retry");
                    ok = false;
                }
            }
        }
        ok
    }

    /// Gives the instance's link a conduit to the kernel fast path (none without one, or
    /// if the kernel refuses: the engine then carries all its packets).
    fn attach_fast(&mut self, a: &Attachment) -> Option<fort_fastpath::PortId> {
        let fp = self.fast.as_ref()?;
        let id = fort_fastpath::PortId(self.next_fast_port);
        self.next_fast_port += 1;
        match fp.attach_port(&a.instance_id, &a.link(), id) {
            Ok(()) => Some(id),
            Err(e) => {
                tracing::warn!(host = self.host_id, eni = a.eni_id, error = %e, "no fast path for this interface");
                None
            }
        }
    }

    fn detach_fast(&self, fast: Option<fort_fastpath::PortId>) {
        if let (Some(fp), Some(id)) = (&self.fast, fast)
            && let Err(e) = fp.detach_port(id)
        {
            tracing::debug!(error = %e, "fast path port already gone");
        }
    }

    fn shutdown(mut self) {
        self.dp.stop();
        if self.keep {
            tracing::info!(
                host = self.host_id,
                instances = self.attached.len(),
                "leaving instances in place (--keep)"
            );
            return;
        }
        for (_, f) in std::mem::take(&mut self.forwarders) {
            f.stop();
        }
        let attached = std::mem::take(&mut self.attached);
        let mut namespaces: Vec<String> = Vec::new();
        for (_, (a, tap, fast)) in attached {
            self.detach_fast(fast);
            instance::detach(tap);
            if !namespaces.contains(&a.instance_id) {
                namespaces.push(a.instance_id);
            }
        }
        for ns in namespaces {
            remove_namespace(&ns);
        }
        let _ = std::fs::remove_dir_all(&self.run_dir);
        tracing::info!(host = self.host_id, "agent cleaned up");
    }
}
