//! The few system calls std does not wrap: TAP ioctls, epoll, eventfd and socket
//! buffer sizes. The only `unsafe` of Fort lives here; every block says why it is sound.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

// <linux/if_tun.h>
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const TUNSETPERSIST: libc::c_ulong = 0x4004_54cb;
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
const TUNSETVNETHDRSZ: libc::c_ulong = 0x4004_54d8;
const IFF_TAP: i16 = 0x0002;
const IFF_NO_PI: i16 = 0x1000;
const IFF_VNET_HDR: i16 = 0x4000;
const TUN_F_CSUM: libc::c_uint = 0x01;
const TUN_F_TSO4: libc::c_uint = 0x02;
const TUN_F_TSO6: libc::c_uint = 0x04;
const TUN_F_TSO_ECN: libc::c_uint = 0x08;

/// Size of `struct virtio_net_hdr` (no mergeable buffers), what the TAP prepends.
pub const VNET_HDR_LEN: usize = 10;

/// `struct ifreq` with the flags member of its union.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

impl IfReq {
    fn new(name: &str) -> io::Result<IfReq> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad interface name",
            ));
        }
        let mut r = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags: 0,
            _pad: [0; 22],
        };
        r.name[..bytes.len()].copy_from_slice(bytes);
        Ok(r)
    }
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A TAP device: an Ethernet link whose other side is this file descriptor. Frames are
/// read and written with a virtio-net header in front (offloads on).
#[derive(Debug)]
pub struct Tap {
    file: File,
    name: String,
}

impl Tap {
    /// Creates the TAP `name` (or attaches to the persistent one of that name in the
    /// current namespace), non-blocking, with vnet headers, checksum offload and, with
    /// `tso`, TCP segmentation offload (frames of up to ~64 KiB).
    pub fn open(name: &str, tso: bool) -> io::Result<Tap> {
        let path = CString::new("/dev/net/tun").expect("no NUL");
        // SAFETY: `path` is a valid NUL-terminated string; open(2) has no other inputs.
        let fd = cvt(unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        })?;
        // SAFETY: `fd` was just returned by open(2) and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut req = IfReq::new(name)?;
        req.flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        // SAFETY: TUNSETIFF reads and writes a `struct ifreq`; `req` is one (repr(C), 40
        // bytes, name NUL-terminated) and lives across the call.
        cvt(unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, &mut req as *mut IfReq) })?;
        let hdr = libc::c_int::try_from(VNET_HDR_LEN).map_err(io::Error::other)?;
        // SAFETY: TUNSETVNETHDRSZ reads an int through the pointer, which is valid.
        cvt(unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETVNETHDRSZ, &hdr as *const libc::c_int) })?;
        let offloads = if tso {
            TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN
        } else {
            TUN_F_CSUM
        };
        // SAFETY: TUNSETOFFLOAD takes its argument by value.
        cvt(unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETOFFLOAD, offloads as libc::c_ulong) })?;
        let end = req
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(req.name.len());
        let tap = Tap {
            file: File::from(fd),
            name: String::from_utf8_lossy(&req.name[..end]).into_owned(),
        };
        tap.set_persist(true)?;
        Ok(tap)
    }

    /// A persistent TAP outlives its file descriptor; a non-persistent one is destroyed
    /// (wherever it is, in any namespace) when the last descriptor closes.
    pub fn set_persist(&self, on: bool) -> io::Result<()> {
        // SAFETY: TUNSETPERSIST takes its argument by value; the fd is a TAP.
        cvt(unsafe {
            libc::ioctl(
                self.file.as_raw_fd(),
                TUNSETPERSIST,
                libc::c_ulong::from(on),
            )
        })?;
        Ok(())
    }

    /// The kernel's name of the device when it was created.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device as a file: `read` gives one frame (vnet header first), `write` or
    /// `write_vectored` sends one.
    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// The device's file, blocking or not: a TAP that vanishes when the file closes
    /// (persistence off), for tools that read it with their own loop.
    pub fn into_file(self, blocking: bool) -> io::Result<File> {
        self.set_persist(false)?;
        let fd = self.file.as_raw_fd();
        // SAFETY: F_GETFL on a descriptor this struct owns; no pointers.
        let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
        let flags = if blocking {
            flags & !libc::O_NONBLOCK
        } else {
            flags | libc::O_NONBLOCK
        };
        // SAFETY: F_SETFL with an int argument on the same owned descriptor.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags) })?;
        Ok(self.file)
    }
}

/// Attaches to the persistent TAP `name` that lives in the network namespace mounted at
/// `netns` (a TAP moved into an instance by an earlier run of the agent). The descriptor
/// keeps working from the agent's own namespace.
pub fn open_tap_in(netns: &std::path::Path, name: &str, tso: bool) -> io::Result<Tap> {
    let name = name.to_string();
    in_netns(netns, move || Tap::open(&name, tso))
}

/// Runs `f` inside the network namespace mounted at `netns` (e.g. `/run/netns/NAME`) and
/// returns what it made: sockets and devices it creates stay in that namespace and keep
/// working from any other. setns changes only the calling thread, so `f` runs on a thread
/// of its own that ends with it: no thread of the caller ever changes namespace.
pub fn in_netns<T: Send + 'static>(
    netns: &std::path::Path,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let ns = File::open(netns)?;
    std::thread::spawn(move || {
        // SAFETY: `ns` is an open namespace file; setns has no memory inputs.
        cvt(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) })?;
        f()
    })
    .join()
    .map_err(|_| io::Error::other("namespace thread panicked"))?
}

/// Level-triggered epoll over raw descriptors, each with a `u64` token.
pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes flags only.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: a fresh descriptor owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll { fd })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) })?;
        Ok(())
    }

    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token)
    }

    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0)
    }

    /// Waits up to `timeout_ms`; returns the tokens of ready descriptors in `tokens`.
    pub fn wait(
        &self,
        events: &mut [libc::epoll_event],
        tokens: &mut Vec<u64>,
        timeout_ms: i32,
    ) -> io::Result<()> {
        tokens.clear();
        let max = libc::c_int::try_from(events.len()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `events` is valid writable memory for `max` entries.
        let n =
            unsafe { libc::epoll_wait(self.fd.as_raw_fd(), events.as_mut_ptr(), max, timeout_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            };
        }
        tokens.extend(events[..n as usize].iter().map(|e| e.u64));
        Ok(())
    }
}

/// An eventfd: wakes the data path when a command is queued for it.
pub struct EventFd {
    file: File,
}

impl EventFd {
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd takes an initial value and flags only.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: a fresh descriptor owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(EventFd {
            file: File::from(fd),
        })
    }

    pub fn notify(&self) {
        use std::io::Write;
        let _ = (&self.file).write(&1u64.to_ne_bytes());
    }

    pub fn drain(&self) {
        use std::io::Read;
        let mut b = [0u8; 8];
        let _ = (&self.file).read(&mut b);
    }

    pub fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

/// Sets a socket's send and receive buffers, past the sysctl limits when allowed (root).
pub fn set_socket_buffers(sock: BorrowedFd<'_>, bytes: i32) {
    let Ok(len) = libc::socklen_t::try_from(std::mem::size_of::<i32>()) else {
        return; // an int's size fits; best effort like the rest
    };
    for (force, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        for opt in [force, plain] {
            // SAFETY: the option value is a valid int of the size passed.
            let r = unsafe {
                libc::setsockopt(
                    sock.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    &bytes as *const i32 as *const libc::c_void,
                    len,
                )
            };
            if r == 0 {
                break;
            }
        }
    }
}

/// Sets an IPv6 socket's unicast hop limit (`IPV6_UNICAST_HOPS`): IPv6's IP TTL.
pub fn set_unicast_hops(sock: BorrowedFd<'_>, hops: u32) -> io::Result<()> {
    let hops = i32::try_from(hops).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let len = libc::socklen_t::try_from(std::mem::size_of::<i32>())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: the option value is a valid int of the size passed.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_UNICAST_HOPS,
            &hops as *const i32 as *const libc::c_void,
            len,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Pins the calling thread to one CPU.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no such CPU"));
    }
    // SAFETY: `cpu` is within the set's capacity (checked above).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is this thread.
    cvt(unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) })?;
    Ok(())
}

/// Sends SIGKILL to a process.
pub fn kill(pid: i32) {
    // SAFETY: kill(2) has no memory inputs; a stale pid is at worst ESRCH.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

/// Is this process root (able to create TAPs and namespaces)?
pub fn is_root() -> bool {
    // SAFETY: geteuid has no inputs and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Borrow helper for std sockets.
pub fn fd_of<T: AsFd>(t: &T) -> BorrowedFd<'_> {
    t.as_fd()
}
