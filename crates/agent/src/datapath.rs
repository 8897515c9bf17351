//! The data path: one thread running the engine between the TAPs of this host's ENIs
//! and the Geneve underlay socket.
//!
//! Level-triggered epoll over the TAPs, the socket and an eventfd for commands. Frames
//! from a TAP carry a virtio-net header (TSO super-frames with partial checksums); the
//! header travels to the peer agent in a Geneve option (see [`fort_host::offload`]), so a
//! 60 KiB TCP burst crosses the underlay as one datagram.

use std::collections::HashMap;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fort_dataplane::overlay::{GENEVE_OFFSET, OUTER_LEN};
use fort_dataplane::{
    Engine, EngineConfig, HostProgram, InstallError, Output, PortId, Processed, Service, Time,
    Verdict,
};
use fort_sync::host_state::ProgramQueue;

use crate::fastpath::Offloads;
use fort_host::worker::Worker;

use crate::metrics::{self, PortCounters, Snapshot};
use fort_host::offload::{self, GENEVE_LEN, OPTION_LEN};
use fort_host::sys::{self, Epoll, EventFd, Tap, VNET_HDR_LEN};

/// Geneve's UDP port.
pub const GENEVE_PORT: u16 = fort_dataplane::wire::geneve::UDP_PORT;
/// How long a program may take to reach the data path before the host says it is stuck.
const PROGRAM_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest datagram or frame handled.
const BUF: usize = 65_536 + VNET_HDR_LEN;
/// Room kept before a frame read from a TAP, where the engine writes the outer
/// headers in place (the vnet header is read into its last bytes).
const HEADROOM: usize = 64;
const _: () = assert!(HEADROOM >= OUTER_LEN + VNET_HDR_LEN);
/// Frames read from one descriptor before looking at the others.
const BURST: usize = 64;
const TOKEN_SOCKET: u64 = 0;
const TOKEN_COMMAND: u64 = 1;
const TOKEN_PORT0: u64 = 2;
/// Packets a second one ENI may send to the VPC resolver and the time sync service
/// together (AWS's limit on link-local services); the rest are dropped and counted
/// (`dns_rate_limited`, `time_sync_rate_limited`).
const RESOLVER_PPS: u32 = 1024;
/// The metadata service's TAP (port tokens come from u16 slots: never this).
const TOKEN_METADATA: u64 = u64::MAX;

/// What the rest of the agent asks of the data path.
pub enum Command {
    /// Run the new `structure` (if any) and V2P changes; `taps` are the ENIs whose
    /// devices exist. Acknowledged on `done` once in force (after which the data path
    /// holds no other TAP).
    Program {
        structure: Option<HostProgram>,
        v2p: ProgramQueue,
        taps: Vec<TapPort>,
        done: mpsc::Sender<Result<(), InstallError>>,
    },
    Stop,
}

/// An ENI whose device exists: its TAP and, if the kernel fast path serves it, the fast
/// path's id for it.
pub struct TapPort {
    pub eni: String,
    pub instance: String,
    pub tap: Arc<Tap>,
    pub fast: Option<fort_fastpath::PortId>,
}

/// The handle the agent keeps: queue commands and wake the thread.
pub type Handle = Worker<Command>;

/// Installs a program and waits (bounded) until the data path runs it; why not, if it
/// does not answer in time or is gone.
pub fn program(
    dp: &Handle,
    structure: Option<HostProgram>,
    v2p: ProgramQueue,
    taps: Vec<TapPort>,
) -> Result<(), String> {
    let (done, rx) = mpsc::channel();
    dp.send(Command::Program {
        structure,
        v2p,
        taps,
        done,
    });
    match rx.recv_timeout(PROGRAM_TIMEOUT) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("the engine refused the program: {e}")),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
            "the data path did not take a program within {} s",
            PROGRAM_TIMEOUT.as_secs()
        )),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("the data path thread is gone".to_owned()),
    }
}

struct PortIo {
    tap: Arc<Tap>,
    eni: String,
}

/// The link to the host's metadata service, and who answers for which slot.
pub struct MetadataIo {
    pub tap: Arc<Tap>,
    pub directory: Arc<std::sync::RwLock<crate::metadata::Directory>>,
}

struct DataPath {
    engine: Engine,
    offloads: Option<Offloads>,
    sock: UdpSocket,
    epoll: Epoll,
    wake: Arc<EventFd>,
    rx: mpsc::Receiver<Command>,
    ports: Vec<Option<PortIo>>,
    counters: HashMap<String, PortCounters>,
    snap: Snapshot,
    shared: metrics::Shared,
    start: Instant,
    /// Unix nanoseconds at `start`: engine times to flow-log times.
    start_unix_ns: u64,
    flow_logs: Option<crate::flow_log::Tap>,
    metadata: Option<MetadataIo>,
    /// Per port slot: when its next packet to the resolver is due (ns, see `resolver_budget`).
    resolver_due: Vec<u64>,
    inbuf: Vec<u8>,
    out: Vec<u8>,
}

/// Binds the underlay socket and starts the data path thread.
pub fn start(
    underlay: Ipv4Addr,
    instance_mtu: u16,
    host_id: &str,
    shared: metrics::Shared,
    fast: Option<(Arc<fort_fastpath::FastPath>, crate::fastpath::Underlay)>,
    flow_logs: Option<crate::flow_log::Tap>,
    metadata: Option<MetadataIo>,
) -> io::Result<Handle> {
    let sock = UdpSocket::bind(SocketAddrV4::new(underlay, GENEVE_PORT))?;
    sock.set_nonblocking(true)?;
    sys::set_socket_buffers(sys::fd_of(&sock), 8 << 20);
    let epoll = Epoll::new()?;
    let wake = Arc::new(EventFd::new()?);
    epoll.add(sock.as_raw_fd(), TOKEN_SOCKET)?;
    epoll.add(wake.raw_fd(), TOKEN_COMMAND)?;
    if let Some(m) = &metadata {
        epoll.add(m.tap.raw_fd(), TOKEN_METADATA)?;
    }
    let (tx, rx) = mpsc::channel();
    // with the link-local services' namespace, the agent's resolver answers DNS
    let mut engine = Engine::new(EngineConfig {
        resolver_service: metadata.is_some(),
        instance_mtu,
        ..EngineConfig::default()
    });
    engine
        .set_program(HostProgram {
            underlay: fort_dataplane::program::Underlay {
                address: underlay,
                ..Default::default()
            },
            ..HostProgram::default()
        })
        .map_err(io::Error::other)?;
    let mut dp = DataPath {
        engine,
        offloads: fast.map(Offloads::new),
        sock,
        epoll,
        wake: wake.clone(),
        rx,
        ports: Vec::new(),
        counters: HashMap::new(),
        snap: {
            // the flow-log task's and the time sync service's live counters, kept across
            // every publish
            let (flow_logs, time_sync) = shared
                .lock()
                .map(|s| (s.flow_logs.clone(), s.time_sync.clone()))
                .unwrap_or_default();
            Snapshot {
                host_id: host_id.to_string(),
                flow_logs,
                time_sync,
                ..Snapshot::default()
            }
        },
        shared,
        start: Instant::now(),
        start_unix_ns: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        flow_logs,
        metadata,
        resolver_due: Vec::new(),
        inbuf: vec![0u8; HEADROOM + BUF],
        out: Vec::with_capacity(BUF + 128),
    };
    let cpu = next_cpu();
    let thread = std::thread::Builder::new()
        .name(format!("fort-dp-{host_id}"))
        .spawn(move || {
            if let Some(cpu) = cpu
                && let Err(e) = sys::pin_current_thread(cpu)
            {
                tracing::warn!(cpu, error = %e, "cannot pin the data path");
            }
            dp.run()
        })?;
    Ok(Worker::new(tx, wake, thread, || Command::Stop))
}

/// The CPU for the next data path thread of this process, from `FORT_AGENT_CPUS`
/// (a comma-separated list, taken in turn; unset: no pinning). A polling data path
/// pinned to its own core stops migrating between cores and waking up elsewhere, as
/// user-space switches do (OVS-DPDK's `pmd-cpu-mask`).
fn next_cpu() -> Option<usize> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let cpus: Vec<usize> = std::env::var("FORT_AGENT_CPUS")
        .ok()?
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    if cpus.is_empty() {
        return None;
    }
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Some(cpus[n % cpus.len()])
}

/// How long the data path keeps polling after traffic before it sleeps
/// (`FORT_AGENT_SPIN_US`, default 200 µs; 0 turns polling off).
fn spin_time() -> Duration {
    let us = std::env::var("FORT_AGENT_SPIN_US")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    Duration::from_micros(us)
}

/// Whether an Ethernet frame carries IPv6.
fn is_ipv6(frame: &[u8]) -> bool {
    frame.get(12..14) == Some(&[0x86, 0xdd][..])
}

fn bump(map: &mut std::collections::BTreeMap<&'static str, u64>, reason: &'static str) {
    *map.entry(reason).or_default() += 1;
}

impl DataPath {
    fn now(&self) -> Time {
        // u64 nanoseconds last 584 years of uptime
        Time(u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    fn run(&mut self) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 64];
        let mut tokens = Vec::with_capacity(64);
        let mut last_publish = Instant::now();
        let mut last_expire = Instant::now();
        let spin = spin_time();
        let mut last_busy = Instant::now()
            .checked_sub(spin)
            .unwrap_or_else(Instant::now);
        loop {
            // Poll without sleeping for a moment after traffic: a request's answer
            // usually follows within tens of microseconds, and a wake-up costs as much.
            let spinning = last_busy.elapsed() < spin;
            if let Err(e) =
                self.epoll
                    .wait(&mut events, &mut tokens, if spinning { 0 } else { 100 })
            {
                tracing::error!(error = %e, "epoll failed; data path stops");
                return;
            }
            if tokens.is_empty() {
                if spinning {
                    std::thread::yield_now();
                }
            } else {
                last_busy = Instant::now();
            }
            for &t in &tokens {
                match t {
                    TOKEN_SOCKET => self.read_underlay(),
                    TOKEN_METADATA => self.read_metadata(),
                    TOKEN_COMMAND => {
                        self.wake.drain();
                        if !self.commands() {
                            self.publish();
                            return;
                        }
                    }
                    // tokens are registered from u16 slots: nothing else arrives
                    p => {
                        if let Ok(slot) = u16::try_from(p - TOKEN_PORT0) {
                            self.read_port(slot);
                        }
                    }
                }
            }
            if last_expire.elapsed() >= Duration::from_secs(1) {
                let now = self.now();
                self.carried(now);
                self.drain_flow_logs();
                self.engine.expire(now);
                last_expire = Instant::now();
            }
            if last_publish.elapsed() >= Duration::from_millis(250) {
                self.publish();
                last_publish = Instant::now();
            }
        }
    }

    /// Hands the counters of watched ENIs to the flow logs; the rest are dropped (drained
    /// all the same, so the engine can free idle counters).
    fn drain_flow_logs(&mut self) {
        let Some(tap) = self.flow_logs.as_ref().filter(|t| t.active()) else {
            self.engine.drain_flow_records(|_| {});
            self.engine.drain_skipped(|_, _| {});
            return;
        };
        let base = self.start_unix_ns;
        let secs = |t: Time| base.saturating_add(t.0) / 1_000_000_000;
        let mut d = crate::flow_log::Drained {
            now: secs(self.now()),
            ..Default::default()
        };
        if let Ok(watched) = tap.watched.read() {
            self.engine.drain_flow_records(|r| {
                if watched.contains(&r.eni) {
                    d.records.push(crate::flow_log::Counted {
                        first: secs(r.first),
                        last: secs(r.last),
                        record: r,
                    });
                }
            });
            self.engine.drain_skipped(|eni, n| {
                if watched.contains(&eni) {
                    d.skipped.push((eni, n));
                }
            });
        }
        if (!d.records.is_empty() || !d.skipped.is_empty()) && tap.tx.try_send(d).is_err() {
            tracing::warn!("flow-log counters dropped: the flow-log task is behind");
        }
    }

    /// Applies queued commands; false on Stop.
    fn commands(&mut self) -> bool {
        while let Ok(c) = self.rx.try_recv() {
            match c {
                Command::Stop => return false,
                Command::Program {
                    structure,
                    v2p,
                    taps,
                    done,
                } => {
                    let installed = v2p.apply_to(&mut self.engine, structure);
                    if installed.is_ok() {
                        self.install(taps);
                        let now = self.now();
                        if let Some(o) = &mut self.offloads {
                            o.revalidate(&mut self.engine, now);
                        }
                    }
                    // The reconciler may have stopped waiting (it then reported the
                    // host stuck): what was installed is in force all the same.
                    let _ = done.send(installed);
                }
            }
        }
        true
    }

    /// Takes the TAPs of the ports the engine now runs.
    fn install(&mut self, taps: Vec<TapPort>) {
        let mut ports: Vec<Option<PortIo>> = Vec::new();
        let mut fast = HashMap::new();
        for TapPort {
            eni,
            instance,
            tap,
            fast: fast_port,
        } in taps
        {
            let Some(PortId(slot)) = self.engine.port_id(&eni) else {
                continue;
            };
            let i = usize::from(slot);
            if ports.len() <= i {
                ports.resize_with(i + 1, || None);
            }
            if let Some(f) = fast_port {
                fast.insert(slot, f);
            }
            self.counters.entry(eni.clone()).or_default().instance_id = instance;
            ports[i] = Some(PortIo { tap, eni });
        }
        let now = self.now();
        if let Some(o) = &mut self.offloads {
            o.set_ports(&mut self.engine, fast, now);
        }
        // re-register every descriptor whose slot changed
        for (i, old) in self.ports.iter().enumerate() {
            if let Some(o) = old {
                let same = ports
                    .get(i)
                    .and_then(Option::as_ref)
                    .is_some_and(|n| Arc::ptr_eq(&n.tap, &o.tap));
                if !same {
                    let _ = self.epoll.delete(o.tap.raw_fd());
                }
            }
        }
        for (i, new) in ports.iter().enumerate() {
            if let Some(n) = new {
                let same = self
                    .ports
                    .get(i)
                    .and_then(Option::as_ref)
                    .is_some_and(|o| Arc::ptr_eq(&n.tap, &o.tap));
                if !same && let Err(e) = self.epoll.add(n.tap.raw_fd(), TOKEN_PORT0 + i as u64) {
                    tracing::error!(eni = n.eni, error = %e, "cannot poll the TAP");
                }
            }
        }
        self.counters
            .retain(|eni, _| ports.iter().flatten().any(|p| &p.eni == eni));
        if let Some(m) = &self.metadata
            && let Ok(mut d) = m.directory.write()
        {
            d.set_slots(
                ports
                    .iter()
                    .zip(0..=u16::MAX)
                    .filter_map(|(p, i)| p.as_ref().map(|p| (i, p.eni.clone())))
                    .collect(),
            );
        }
        self.ports = ports;
    }

    /// What the kernel fast path carried: to the engine and to the ports' counters.
    fn carried(&mut self, now: Time) {
        let Some(o) = &mut self.offloads else {
            return;
        };
        for (port, (sent, received)) in o.tick(&mut self.engine, now) {
            let eni = self.ports.get(usize::from(port.0)).and_then(Option::as_ref);
            if let Some(c) = eni.and_then(|p| self.counters.get_mut(&p.eni)) {
                c.from_instance.add_many(sent);
                c.to_instance.add_many(received);
            }
        }
    }

    fn publish(&mut self) {
        let s = self.engine.stats();
        self.snap.drops = s.drops;
        self.snap.fast_path = s.fast_path;
        self.snap.slow_path = s.slow_path;
        self.snap.conntrack = self.engine.conntrack_len();
        self.snap.flows = self.engine.flow_table_len();
        self.snap.offloaded = self.offloads.as_ref().map_or(0, Offloads::len);
        self.snap.ports = self
            .counters
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        *self.shared.lock().expect("metrics lock") = self.snap.clone();
    }

    /// Frames an instance sent.
    fn read_port(&mut self, slot: u16) {
        let Some(tap) = self
            .ports
            .get(usize::from(slot))
            .and_then(Option::as_ref)
            .map(|p| p.tap.clone())
        else {
            return;
        };
        let mut buf = std::mem::take(&mut self.inbuf);
        for _ in 0..BURST {
            // the vnet header lands just before HEADROOM, the frame at HEADROOM
            let n = match tap.file().read(&mut buf[HEADROOM - VNET_HDR_LEN..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(error = %e, "TAP read failed");
                    break;
                }
            };
            if n <= VNET_HDR_LEN {
                continue;
            }
            let now = self.now();
            let mut hdr = [0u8; VNET_HDR_LEN];
            hdr.copy_from_slice(&buf[HEADROOM - VNET_HDR_LEN..HEADROOM]);
            let frame = HEADROOM..HEADROOM - VNET_HDR_LEN + n;
            let Some(PortIo { eni, .. }) =
                self.ports.get(usize::from(slot)).and_then(Option::as_ref)
            else {
                // a port removed while its frames were being read: nothing to count them on
                continue;
            };
            if let Some(c) = self.counters.get_mut(eni) {
                c.from_instance.add(frame.len());
            }
            let Processed {
                verdict,
                output,
                cached,
                cached6,
            } = self.engine.process_from_port_in_place(
                now,
                PortId(slot),
                &mut buf,
                frame,
                &mut self.out,
            );
            match verdict {
                Verdict::ToPort { port } => self.deliver(port, &hdr, &buf, output),
                Verdict::Hairpin { port } => self.deliver(port, &[0; VNET_HDR_LEN], &buf, output),
                Verdict::ToUnderlay { host, .. } | Verdict::ToEdge { host, .. } => {
                    self.send_underlay(host, &hdr, &mut buf, output)
                }
                Verdict::Service {
                    service: Service::Resolver,
                    ..
                } if !self.resolver_budget(slot) => {
                    self.port_drop(slot, "dns_rate_limited");
                }
                Verdict::Service {
                    service: Service::TimeSync,
                    ..
                } if self.metadata.is_some() && !self.resolver_budget(slot) => {
                    self.port_drop(slot, "time_sync_rate_limited");
                }
                Verdict::Service {
                    service:
                        service @ (Service::InstanceMetadata | Service::Resolver | Service::TimeSync),
                    ..
                } if self.metadata.is_some() => {
                    let frame = match &output {
                        Output::InPlace(r) => buf[r.clone()].to_vec(),
                        Output::Out => self.out.clone(),
                    };
                    if service == Service::InstanceMetadata
                        && is_ipv6(&frame)
                        && !self.metadata_over_ipv6(slot)
                    {
                        // HttpProtocolIpv6 disabled: nothing answers at fd00:ec2::254
                        self.port_drop(slot, "metadata_ipv6_disabled");
                    } else {
                        self.send_metadata(slot, &hdr, frame);
                    }
                }
                Verdict::Service { .. } => {
                    bump(&mut self.snap.agent_drops, "service_unavailable");
                    self.port_drop(slot, "service_unavailable");
                }
                Verdict::Drop { reason } => self.port_drop(slot, reason.as_str()),
            }
            // after the frame went: installing costs a syscall
            if let Some(o) = &mut self.offloads {
                if let Some(flow) = cached {
                    o.decided(&self.engine, &flow, now);
                }
                if let Some(flow) = cached6 {
                    o.decided6(&self.engine, &flow, now);
                }
            }
        }
        self.inbuf = buf;
    }

    /// Whether the port in `slot` may send one more packet to the resolver or the time
    /// sync service: at most [`RESOLVER_PPS`] a second to both together, as AWS limits
    /// each ENI, paced (GCRA): a flood gets one packet through every 1/1,024 s rather
    /// than 1,024 at once at each second's start, so the services it shares with other
    /// instances never have a second's worth queued at once; a quiet instance may still
    /// send a second's worth in a burst.
    fn resolver_budget(&mut self, slot: u16) -> bool {
        const INTERVAL: u64 = 1_000_000_000 / RESOLVER_PPS as u64;
        const BURST: u64 = INTERVAL * (RESOLVER_PPS as u64 - 1);
        let now = self.now().0;
        let i = usize::from(slot);
        if self.resolver_due.len() <= i {
            self.resolver_due.resize(i + 1, 0);
        }
        // when the port's next packet is due at the sustained rate
        let due = self.resolver_due[i].max(now);
        if due - now > BURST {
            return false;
        }
        self.resolver_due[i] = due + INTERVAL;
        true
    }

    /// Whether the instance behind `slot` has its metadata at `fd00:ec2::254`
    /// (HttpProtocolIpv6 enabled).
    fn metadata_over_ipv6(&self, slot: u16) -> bool {
        let Some(m) = &self.metadata else {
            return false;
        };
        let Ok(d) = m.directory.read() else {
            return false;
        };
        d.by_slot(slot)
            .and_then(|v| v.item.metadata_options)
            .is_some_and(|o| o.http_protocol_ipv6)
    }

    /// An instance's frame to a link-local service (metadata, the resolver, time sync),
    /// on to their namespace.
    fn send_metadata(&mut self, slot: u16, hdr: &[u8], mut frame: Vec<u8>) {
        let Some(m) = &self.metadata else { return };
        let Some(port) = self.engine.port_link(PortId(slot)) else {
            return;
        };
        match crate::metadata::nat::to_service(&mut frame, hdr, slot, &port) {
            Ok(n) => {
                let iov = [IoSlice::new(&[0; VNET_HDR_LEN]), IoSlice::new(&frame[..n])];
                if let Err(e) = m.tap.file().write_vectored(&iov) {
                    tracing::debug!(error = %e, "metadata TAP write failed");
                    bump(&mut self.snap.agent_drops, "metadata_write_failed");
                }
            }
            Err(r) => self.port_drop(slot, r.as_str()),
        }
    }

    /// The metadata service's answers, back to their instances.
    fn read_metadata(&mut self) {
        let Some(tap) = self.metadata.as_ref().map(|m| m.tap.clone()) else {
            return;
        };
        let mut buf = std::mem::take(&mut self.inbuf);
        for _ in 0..BURST {
            let n = match tap.file().read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(error = %e, "metadata TAP read failed");
                    break;
                }
            };
            if n <= VNET_HDR_LEN {
                continue;
            }
            let (vnet, frame) = buf[..n].split_at_mut(VNET_HDR_LEN);
            let engine = &self.engine;
            match crate::metadata::nat::from_service(frame, vnet, |slot| {
                engine.port_link(PortId(slot))
            }) {
                Ok((slot, len)) => {
                    let range = VNET_HDR_LEN..VNET_HDR_LEN + len;
                    self.deliver(
                        PortId(slot),
                        &[0; VNET_HDR_LEN],
                        &buf,
                        Output::InPlace(range),
                    );
                }
                Err(r) => bump(&mut self.snap.agent_drops, r.as_str()),
            }
        }
        self.inbuf = buf;
    }

    fn port_drop(&mut self, slot: u16, reason: &'static str) {
        if let Some(p) = self.ports.get(usize::from(slot)).and_then(Option::as_ref)
            && let Some(c) = self.counters.get_mut(&p.eni)
        {
            bump(&mut c.drops, reason);
        }
    }

    /// Writes the output frame (`buf[range]` or `self.out`) to a local port's TAP.
    fn deliver(&mut self, port: PortId, hdr: &[u8], buf: &[u8], output: Output) {
        let Some(p) = self.ports.get(usize::from(port.0)).and_then(Option::as_ref) else {
            bump(&mut self.snap.agent_drops, "no_tap");
            return;
        };
        let frame = match output {
            Output::InPlace(r) => &buf[r],
            Output::Out => &self.out[..],
        };
        let iov = [IoSlice::new(hdr), IoSlice::new(frame)];
        // A TAP takes a frame whole or not at all.
        match p.tap.file().write_vectored(&iov) {
            Ok(n) if n == hdr.len() + frame.len() => {
                if let Some(c) = self.counters.get_mut(&p.eni) {
                    c.to_instance.add(frame.len());
                }
            }
            Ok(_) => bump(&mut self.snap.agent_drops, "tap_short_write"),
            Err(e) => {
                tracing::debug!(eni = p.eni, error = %e, "TAP write failed");
                bump(&mut self.snap.agent_drops, "tap_write_failed");
            }
        }
    }

    /// Sends the Geneve packet (an encapsulated frame, `buf[range]` or `self.out`) to
    /// `host`, with the frame's offload header in a Geneve option when it has one.
    fn send_underlay(&mut self, host: Ipv4Addr, hdr: &[u8], buf: &mut [u8], output: Output) {
        let to = SocketAddr::V4(SocketAddrV4::new(host, GENEVE_PORT));
        let packet: &mut [u8] = match output {
            Output::InPlace(r) => &mut buf[r],
            Output::Out => &mut self.out[..],
        };
        let start = if offload::carries_offload(hdr) {
            // Rewrite the Geneve header with our option in the outer headers' room.
            let at = GENEVE_OFFSET - OPTION_LEN;
            let mut geneve = [0u8; GENEVE_LEN];
            geneve.copy_from_slice(&packet[GENEVE_OFFSET..GENEVE_OFFSET + GENEVE_LEN]);
            offload::write_header_with_option(
                &mut packet[at..GENEVE_OFFSET + GENEVE_LEN],
                geneve,
                hdr,
            );
            at
        } else {
            GENEVE_OFFSET
        };
        let payload = &packet[start..];
        match self.sock.send_to(payload, to) {
            Ok(n) => self.snap.underlay_tx.add(n),
            Err(e) => {
                self.snap.underlay_send_errors += 1;
                tracing::debug!(%to, len = payload.len(), error = %e, "underlay send failed");
            }
        }
    }

    /// Datagrams from other hosts.
    fn read_underlay(&mut self) {
        let mut buf = std::mem::take(&mut self.inbuf);
        for _ in 0..BURST {
            let (n, from) = match self.sock.recv_from(&mut buf) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(error = %e, "underlay receive failed");
                    break;
                }
            };
            self.snap.underlay_rx.add(n);
            let SocketAddr::V4(from) = from else {
                continue;
            };
            let hdr = offload::read_option(&buf[..n]).unwrap_or([0; VNET_HDR_LEN]);
            let now = self.now();
            let Processed {
                verdict,
                output,
                cached,
                cached6,
            } = self
                .engine
                .process_geneve_in_place(now, *from.ip(), &mut buf, 0..n, &mut self.out);
            match verdict {
                Verdict::ToPort { port } => {
                    let frame = match &output {
                        Output::InPlace(r) => &buf[r.clone()],
                        Output::Out => &self.out[..],
                    };
                    match offload::sanitize(hdr, frame) {
                        Some(hdr) => self.deliver(port, &hdr, &buf, output),
                        None => bump(&mut self.snap.agent_drops, "bad_offload_header"),
                    }
                }
                Verdict::Hairpin { .. } | Verdict::ToUnderlay { .. } | Verdict::ToEdge { .. } => {
                    bump(&mut self.snap.agent_drops, "unexpected_verdict");
                }
                Verdict::Service { .. } => bump(&mut self.snap.agent_drops, "service_unavailable"),
                Verdict::Drop { .. } => {} // counted by the engine
            }
            if let Some(o) = &mut self.offloads {
                if let Some(flow) = cached {
                    o.decided(&self.engine, &flow, now);
                }
                if let Some(flow) = cached6 {
                    o.decided6(&self.engine, &flow, now);
                }
            }
        }
        self.inbuf = buf;
    }
}
