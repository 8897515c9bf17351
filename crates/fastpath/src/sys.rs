//! The system calls this crate needs and std does not wrap: `bpf(2)` (maps, program
//! loading, tcx links, test runs), `setns(2)`, interface indexes, the monotonic clock,
//! TAP ioctls and `poll(2)`. The only `unsafe` of the crate lives here; every block says
//! why it is sound, and every function exposed is safe.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

// bpf(2) commands, <linux/bpf.h> `enum bpf_cmd`
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_PROG_LOAD: libc::c_long = 5;
#[cfg(test)]
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_LINK_CREATE: libc::c_long = 28;

/// `enum bpf_map_type` values used here.
pub const MAP_HASH: u32 = 1;
pub const MAP_PERCPU_ARRAY: u32 = 6;
/// `BPF_PROG_TYPE_SCHED_CLS`: what tcx runs.
pub const PROG_SCHED_CLS: u32 = 3;
/// `enum bpf_attach_type`: tcx hooks (kernel ≥ 6.6).
pub const TCX_INGRESS: u32 = 46;
pub const TCX_EGRESS: u32 = 47;
/// Map update flags.
pub const BPF_ANY: u64 = 0;

fn cvt(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Runs bpf(2) with `attr`, a `#[repr(C)]` prefix of `union bpf_attr`.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    let size = std::mem::size_of::<T>() as libc::c_long;
    // SAFETY: `attr` is a valid, initialised repr(C) struct of `size` bytes laid out as
    // the start of `union bpf_attr` for `cmd` (the kernel zero-fills the rest); every
    // pointer it carries was set by the callers below to memory that outlives the call
    // and is at least as large as the length the kernel reads through it.
    cvt(unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, size) })
}

/// Takes ownership of a descriptor the kernel just returned.
fn own(fd: libc::c_long) -> io::Result<OwnedFd> {
    let fd = libc::c_int::try_from(fd).map_err(io::Error::other)?;
    // SAFETY: `fd` was just returned by a successful system call that creates a new
    // descriptor, so nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A length as the `u32` a `bpf_attr` field holds.
fn len32(n: usize, what: &str) -> io::Result<u32> {
    u32::try_from(n)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{what} too large")))
}

fn name16(name: &str) -> [u8; 16] {
    let mut n = [0u8; 16];
    for (d, s) in n.iter_mut().zip(
        name.bytes()
            .filter(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .take(15),
    ) {
        *d = s;
    }
    n
}

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
    map_ifindex: u32,
}

#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// A BPF map: its descriptor and the sizes every access is checked against.
#[derive(Debug)]
pub struct Map {
    fd: OwnedFd,
    key_size: usize,
    /// Bytes of a whole value as user space sees it (per-CPU maps: one slot per
    /// possible CPU, each rounded up to 8 bytes).
    user_value_size: usize,
}

impl Map {
    /// Creates a map (`kind` one of the `MAP_*` constants).
    pub fn create(
        kind: u32,
        name: &str,
        key_size: usize,
        value_size: usize,
        max_entries: u32,
    ) -> io::Result<Map> {
        let mut attr = MapCreateAttr {
            map_type: kind,
            key_size: len32(key_size, "key size")?,
            value_size: len32(value_size, "value size")?,
            max_entries,
            map_name: name16(name),
            ..Default::default()
        };
        let fd = own(bpf(BPF_MAP_CREATE, &mut attr)?)?;
        let user_value_size = if kind == MAP_PERCPU_ARRAY {
            value_size.div_ceil(8) * 8 * possible_cpus()?
        } else {
            value_size
        };
        Ok(Map {
            fd,
            key_size,
            user_value_size,
        })
    }

    /// The descriptor, for `ld_map_fd` in a program.
    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    fn check(&self, key: &[u8], value: Option<usize>) -> io::Result<()> {
        let bad = key.len() != self.key_size || value.is_some_and(|v| v != self.user_value_size);
        if bad {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "key or value size does not match the map",
            ));
        }
        Ok(())
    }

    fn elem(&self, key: &[u8], value: u64, flags: u64) -> MapElemAttr {
        MapElemAttr {
            map_fd: self.fd.as_raw_fd() as u32,
            _pad: 0,
            key: key.as_ptr() as u64,
            value,
            flags,
        }
    }

    /// Inserts or replaces `key` (flags: `BPF_ANY`).
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> io::Result<()> {
        self.check(key, Some(value.len()))?;
        let mut attr = self.elem(key, value.as_ptr() as u64, flags);
        bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
    }

    /// The value of `key`, or `None`.
    pub fn lookup(&self, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        self.check(key, None)?;
        let mut value = vec![0u8; self.user_value_size];
        let mut attr = self.elem(key, value.as_mut_ptr() as u64, 0);
        match bpf(BPF_MAP_LOOKUP_ELEM, &mut attr) {
            Ok(_) => Ok(Some(value)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes `key`; `false` if it was not there.
    pub fn delete(&self, key: &[u8]) -> io::Result<bool> {
        self.check(key, None)?;
        let mut attr = self.elem(key, 0, 0);
        match bpf(BPF_MAP_DELETE_ELEM, &mut attr) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The key after `key` (the first key with `None`), or `None` at the end.
    pub fn next_key(&self, key: Option<&[u8]>) -> io::Result<Option<Vec<u8>>> {
        if let Some(k) = key {
            self.check(k, None)?;
        }
        let mut next = vec![0u8; self.key_size];
        let mut attr = MapElemAttr {
            map_fd: self.fd.as_raw_fd() as u32,
            _pad: 0,
            key: key.map_or(0, |k| k.as_ptr() as u64),
            value: next.as_mut_ptr() as u64,
            flags: 0,
        };
        match bpf(BPF_MAP_GET_NEXT_KEY, &mut attr) {
            Ok(_) => Ok(Some(next)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every key (a snapshot; entries may come and go meanwhile).
    pub fn keys(&self) -> io::Result<Vec<Vec<u8>>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut cur = self.next_key(None)?;
        while let Some(k) = cur {
            cur = self.next_key(Some(&k))?;
            out.push(k);
        }
        Ok(out)
    }
}

/// Number of possible CPUs (per-CPU maps hold one value for each).
pub fn possible_cpus() -> io::Result<usize> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible")?;
    let mut n = 0;
    for part in text.trim().split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: usize = a.parse().map_err(io::Error::other)?;
        let b: usize = b.parse().map_err(io::Error::other)?;
        n = n.max(b + 1).max(a + 1);
    }
    Ok(n)
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// A program the verifier refused, with its log.
#[derive(Debug)]
pub struct LoadError {
    pub error: io::Error,
    pub log: String,
}

/// Loads a `SCHED_CLS` program (`code`: instructions as bytes). On failure, loads it
/// again with the verifier log on and returns the log's tail.
pub fn prog_load(code: &[u8], name: &str, license: &str) -> Result<OwnedFd, LoadError> {
    let license = CString::new(license).map_err(|e| LoadError {
        error: io::Error::other(e),
        log: String::new(),
    })?;
    let attempt = |log: Option<&mut Vec<u8>>| -> io::Result<OwnedFd> {
        let (level, size, buf) = match log {
            Some(l) => (1, len32(l.len(), "log")?, l.as_mut_ptr() as u64),
            None => (0, 0, 0),
        };
        let mut attr = ProgLoadAttr {
            prog_type: PROG_SCHED_CLS,
            insn_cnt: len32(code.len() / 8, "program")?,
            insns: code.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: level,
            log_size: size,
            log_buf: buf,
            prog_name: name16(name),
            ..Default::default()
        };
        own(bpf(BPF_PROG_LOAD, &mut attr)?)
    };
    match attempt(None) {
        Ok(fd) => Ok(fd),
        Err(error) => {
            let mut log = vec![0u8; 4 << 20];
            let _ = attempt(Some(&mut log));
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            let tail: String = {
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(60)..].join("\n")
            };
            Err(LoadError { error, log: tail })
        }
    }
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    relative_fd: u32,
    _pad: u32,
    expected_revision: u64,
}

/// Attaches `prog` at the end of the tcx chain `attach_type` of interface `ifindex` in
/// the calling thread's network namespace. The link lives as long as the descriptor.
pub fn tcx_attach(prog: BorrowedFd<'_>, ifindex: u32, attach_type: u32) -> io::Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type,
        ..Default::default()
    };
    bpf(BPF_LINK_CREATE, &mut attr).and_then(own)
}

#[cfg(test)]
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

/// Runs `prog` once on the frame `data` (`BPF_PROG_TEST_RUN`), with `ctx` as the
/// `struct __sk_buff` it starts from. Returns the program's return value and the frame
/// as the program left it.
#[cfg(test)]
pub fn prog_test_run(prog: BorrowedFd<'_>, data: &[u8], ctx: &[u8]) -> io::Result<(i32, Vec<u8>)> {
    let mut out = vec![0u8; data.len() + 4096];
    let mut ctx_out = vec![0u8; ctx.len()];
    let mut attr = TestRunAttr {
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: len32(data.len(), "data")?,
        data_size_out: len32(out.len(), "data")?,
        data_in: data.as_ptr() as u64,
        data_out: out.as_mut_ptr() as u64,
        repeat: 1,
        ctx_size_in: len32(ctx.len(), "context")?,
        ctx_size_out: len32(ctx_out.len(), "context")?,
        ctx_in: if ctx.is_empty() {
            0
        } else {
            ctx.as_ptr() as u64
        },
        ctx_out: if ctx.is_empty() {
            0
        } else {
            ctx_out.as_mut_ptr() as u64
        },
        ..Default::default()
    };
    bpf(BPF_PROG_TEST_RUN, &mut attr)?;
    out.truncate(attr.data_size_out as usize);
    Ok((attr.retval as i32, out))
}

/// Runs `f` on a thread of its own that first enters the network namespace at `netns`
/// (e.g. `/run/netns/NAME`). Sockets and links created there stay in that namespace;
/// their descriptors work from any thread.
pub fn in_netns<T, F>(netns: &Path, f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    let ns = File::open(netns)?;
    std::thread::spawn(move || {
        // SAFETY: `ns` is an open namespace file; setns has no memory inputs and changes
        // only the calling thread, which ends with this closure.
        let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        f()
    })
    .join()
    .map_err(|_| io::Error::other("namespace thread panicked"))?
}

/// The index of interface `name` in the calling thread's network namespace.
pub fn if_index(name: &str) -> io::Result<u32> {
    let c = CString::new(name).map_err(io::Error::other)?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(i)
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds: the clock `bpf_ktime_get_ns` reads, so the
/// last-seen times in the flow maps compare with it.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Is this process root (able to load programs and create namespaces)?
pub fn is_root() -> bool {
    // SAFETY: geteuid has no inputs and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Waits up to `timeout_ms` for `fds` to be readable; returns which are.
#[cfg(feature = "test-support")]
pub fn poll_readable(fds: &[BorrowedFd<'_>], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|f| libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `p` is a valid array of `p.len()` pollfd structs for the call's duration.
    let n = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(e);
    }
    Ok(p.iter().map(|x| x.revents & libc::POLLIN != 0).collect())
}
