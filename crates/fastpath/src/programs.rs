//! The four tcx programs of the fast path, assembled with [`crate::asm`].
//!
//! ```text
//!  instance netns                              host netns
//!  eth0 (TAP) ──egress: [1] hit──▶ fortfp0 ═veth═ fp-… ──ingress: [2] check, encap──▶ lo ingress
//!     ▲  miss: TAP fd → agent                                                         │
//!     │                                                         [3] lo ingress: decap │
//!  eth0 ingress ◀──[4]── fortfp0 ◀═════redirect_peer═════ fp-… ◀──────────────────────┘
//! ```
//!
//! Programs that serve one port are assembled per port with its constants (port id,
//! interface indexes) as immediates: nothing per-port is looked up at run time, and an
//! instance cannot make its programs act for another port.
//!
//! Frames [2] encapsulates keep their kernel state (`CHECKSUM_PARTIAL`, GSO) through the
//! redirect to [3]; frames an agent sent through its socket have only their bytes and
//! the offload option describing what is left to do. [2] flags its option
//! ([`crate::layout::OPTION_FLAG_KERNEL`]) and [3] delivers nothing else that carries
//! options: whatever its entries say, the rest is finished by the receiving agent.
//!
//! IPv6 (inner IPv6 with TCP as the next header, no extension headers; the underlay
//! stays IPv4) takes the same steps with maps of its own (`egress6`, `ingress6`: keys
//! with 16-byte addresses), so IPv4's keys and instructions are as they were: each
//! program tries IPv4 first and turns to its IPv6 block only for ethertype 0x86DD.

use crate::asm::{
    Alu, Asm, AsmError, Cond, Insn, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, Reg, Size, imm32,
};
use crate::layout::{
    ENCAP_HEADERS, ENCAP_ROOM, GENEVE_PORT, IPPROTO_TCP, OPTION_CLASS, OPTION_FLAG_KERNEL,
    OPTION_TYPE, OPTION_WORDS, Stat, off, pkt,
};

// helper functions, <linux/bpf.h> `__BPF_FUNC_MAPPER`
const MAP_LOOKUP_ELEM: i32 = 1;
const KTIME_GET_NS: i32 = 5;
const SKB_STORE_BYTES: i32 = 9;
const REDIRECT: i32 = 23;
const SKB_PULL_DATA: i32 = 39;
const SKB_ADJUST_ROOM: i32 = 50;
const REDIRECT_PEER: i32 = 155;

/// tcx verdicts (`enum tcx_action_base`): `NEXT` hands the packet to the next program
/// or, after the last one, to the normal path.
pub const TCX_NEXT: i32 = -1;
pub const TCX_PASS: i32 = 0;
pub const TCX_DROP: i32 = 2;
pub const TCX_REDIRECT: i32 = 7;

// struct __sk_buff
const SKB_LEN: i16 = 0;
const SKB_PROTOCOL: i16 = 16;
const SKB_DATA: i16 = 76;
const SKB_DATA_END: i16 = 80;
const SKB_GSO_SIZE: i16 = 176;

const BPF_F_INGRESS: i32 = 1;
const BPF_ADJ_ROOM_MAC: i32 = 1;
const ADJ_FIXED_GSO: u64 = 1 << 0;
const ADJ_ENCAP_L3_IPV4: u64 = 1 << 1;
const ADJ_ENCAP_L4_UDP: u64 = 1 << 4;
const ADJ_ENCAP_L2_ETH: u64 = 1 << 6;
const fn adj_encap_l2(len: u64) -> u64 {
    (len & 0xff) << 56
}
/// Grow flags: the room is outer IPv4 + UDP tunnel + Ethernet, so a GSO skb stays one
/// GSO skb (`SKB_GSO_UDP_TUNNEL`, inner headers recorded) and is segmented correctly if
/// anything segments it later; `FIXED_GSO` keeps the inner MSS (the underlay has room
/// for the 66 bytes: instance MTU ≤ underlay MTU − 66).
pub const ENCAP_FLAGS: u64 =
    ADJ_FIXED_GSO | ADJ_ENCAP_L3_IPV4 | ADJ_ENCAP_L4_UDP | ADJ_ENCAP_L2_ETH | adj_encap_l2(14);
/// Shrink flags. Linux 6.18 has `DECAP_L3_IPV4/6` (they only change `skb->protocol`,
/// which stays IPv4 here) but not yet `DECAP_L4_UDP`, which would also clear
/// `skb->encapsulation` and `SKB_GSO_UDP_TUNNEL`; delivering locally does not need it.
pub const DECAP_FLAGS: u64 = ADJ_FIXED_GSO;
const ADJ_DECAP_L3_IPV6: u64 = 1 << 8;
/// Shrink flags for an inner IPv6 frame: `skb->protocol` becomes IPv6 (a peer
/// redirect does not read the Ethernet header again).
pub const DECAP_FLAGS6: u64 = ADJ_FIXED_GSO | ADJ_DECAP_L3_IPV6;

/// `VIRTIO_NET_HDR_GSO_TCPV4` and `_TCPV6`.
const GSO_TCPV4: i32 = 1;
const GSO_TCPV6: i32 = 4;
/// Ethernet + IPv4 (no options) + TCP, and Ethernet + IPv6 + TCP: the bytes a candidate
/// frame has before its TCP options.
const ETH_IP_TCP: i32 = 54;
const ETH_IP6_TCP: i32 = 74;
/// The ethertypes as a 16-bit load of the header field reads them (little-endian).
const ETH_IPV4_LE: i32 = 0x0008;
const ETH_IPV6_LE: i32 = 0xdd86;

/// The largest frame (Ethernet, no FCS) the egress program encapsulates: the outer IPv4
/// total length (frame + 52) must fit 16 bits.
pub const MAX_FRAME: i32 = 65_535 - 52;
/// The largest non-GSO frame: `bpf_skb_adjust_room` refuses to grow a linear skb past
/// `SKB_MAX_ALLOC` (about 16 KB with 4 KiB pages).
pub const MAX_LINEAR_FRAME: i32 = 15_000;

// stack slots (R10-relative)
const KEY: i16 = -24; // 24 bytes: -24..-1
const STAT_KEY: i16 = -32;
const SAVED_LEN: i16 = -40;
const SAVED_HDR_LEN: i16 = -48;
const SAVED_GSO_TYPE: i16 = -56;
const SAVED_OPT_LEN: i16 = -40;
const UNFINISHED: i16 = -48;
/// The IPv6 keys: 44 (egress) or 48 (ingress) bytes, -112..-65.
const KEY6: i16 = -112;

/// Descriptors of the maps the programs use.
#[derive(Clone, Copy, Debug)]
pub struct MapFds {
    pub egress: i32,
    pub ingress: i32,
    pub egress6: i32,
    pub ingress6: i32,
    pub stats: i32,
}

/// `stats[stat] += 1` (per-CPU). Clobbers R0–R5.
fn count(a: &mut Asm, stats: i32, stat: Stat) {
    let skip = a.label();
    a.st(Size::W, R10, STAT_KEY, stat as i32);
    a.ld_map_fd(R1, stats);
    a.mov(R2, R10).alu64_imm(Alu::Add, R2, STAT_KEY as i32);
    a.call(MAP_LOOKUP_ELEM);
    a.jmp_imm(Cond::Eq, R0, 0, skip);
    a.ldx(Size::DW, R1, R0, 0);
    a.alu64_imm(Alu::Add, R1, 1);
    a.stx(Size::DW, R0, 0, R1);
    a.bind(skip);
}

/// R7 = skb->data, R8 = skb->data_end.
fn load_packet(a: &mut Asm) {
    a.ldx(Size::W, R7, R6, SKB_DATA);
    a.ldx(Size::W, R8, R6, SKB_DATA_END);
}

/// Makes the first `n` bytes directly readable (pulling them into the linear area if
/// needed) and loads the packet pointers; jumps to `fail` if the packet is shorter.
fn ensure_linear(a: &mut Asm, n: i32, fail: crate::asm::Label) {
    let ok = a.label();
    let small = a.label();
    load_packet(a);
    a.mov(R1, R7).alu64_imm(Alu::Add, R1, n);
    a.jmp(Cond::Le, R1, R8, ok);
    a.ldx(Size::W, R2, R6, SKB_LEN);
    a.jmp_imm(Cond::Le, R2, n, small);
    a.mov_imm(R2, n);
    a.bind(small);
    a.mov(R1, R6).call(SKB_PULL_DATA);
    load_packet(a);
    a.mov(R1, R7).alu64_imm(Alu::Add, R1, n);
    a.jmp(Cond::Gt, R1, R8, fail);
    a.bind(ok);
}

/// Is the Ethernet frame at `base + eth` (54 bytes readable) IPv4 without options or
/// fragmentation, carrying TCP without SYN, FIN or RST? Otherwise jump to `fail`, or to
/// `not_ipv4` if its ethertype is not IPv4: connection set-up and tear-down always go
/// through the agent, so its connection tracking sees them.
fn tcp_candidate(
    a: &mut Asm,
    base: Reg,
    eth: i16,
    fail: crate::asm::Label,
    not_ipv4: crate::asm::Label,
) {
    a.ldx(Size::H, R2, base, eth + 12);
    a.jmp_imm(Cond::Ne, R2, ETH_IPV4_LE, not_ipv4); // 08 00, loaded little-endian
    a.ldx(Size::B, R2, base, eth + 14);
    a.jmp_imm(Cond::Ne, R2, 0x45, fail);
    a.ldx(Size::B, R2, base, eth + 23);
    a.jmp_imm(Cond::Ne, R2, i32::from(IPPROTO_TCP), fail);
    a.ldx(Size::H, R2, base, eth + 20);
    a.alu64_imm(Alu::And, R2, 0xff3f); // MF and fragment offset
    a.jmp_imm(Cond::Ne, R2, 0, fail);
    a.ldx(Size::B, R2, base, eth + 47);
    a.jmp_imm(Cond::Set, R2, 0x07, fail); // FIN | SYN | RST
}

/// Is the Ethernet frame at `base + eth` (74 bytes readable) IPv6 whose next header is
/// TCP (no extension headers), without SYN, FIN or RST? Otherwise jump to `fail`.
fn tcp_candidate6(a: &mut Asm, base: Reg, eth: i16, fail: crate::asm::Label) {
    a.ldx(Size::H, R2, base, eth + 12);
    a.jmp_imm(Cond::Ne, R2, ETH_IPV6_LE, fail);
    a.ldx(Size::B, R2, base, eth + 14);
    a.alu64_imm(Alu::And, R2, 0xf0); // version
    a.jmp_imm(Cond::Ne, R2, 0x60, fail);
    a.ldx(Size::B, R2, base, eth + 20); // next header
    a.jmp_imm(Cond::Ne, R2, i32::from(IPPROTO_TCP), fail);
    a.ldx(Size::B, R2, base, eth + 67);
    a.jmp_imm(Cond::Set, R2, 0x07, fail); // FIN | SYN | RST
}

/// Writes the IPv6 egress key (port id + the frame's tuple: addresses and ports, 36
/// bytes from offset 22) at `KEY6`.
fn egress_key6(a: &mut Asm, port: u32) {
    a.st(Size::W, R10, KEY6, port as i32);
    for i in 0..9i16 {
        a.ldx(Size::W, R2, R7, 22 + 4 * i);
        a.stx(Size::W, R10, KEY6 + 4 + 4 * i, R2);
    }
    a.st(Size::W, R10, KEY6 + 40, i32::from(IPPROTO_TCP));
}

/// Writes the egress key (port id + the frame's tuple) at `KEY`.
fn egress_key(a: &mut Asm, port: u32) {
    a.st(Size::W, R10, KEY, port as i32);
    for (o, k) in [(26, KEY + 4), (30, KEY + 8), (34, KEY + 12)] {
        a.ldx(Size::W, R2, R7, o);
        a.stx(Size::W, R10, k, R2);
    }
    a.st(Size::W, R10, KEY + 16, i32::from(IPPROTO_TCP));
}

/// Jumps to `fail` unless the frame's source MAC is the entry's (value in R9).
fn source_check(a: &mut Asm, fail: crate::asm::Label) {
    a.ldx(Size::W, R2, R7, 6);
    a.ldx(Size::W, R3, R9, off::EG_SRC_MAC);
    a.jmp(Cond::Ne, R2, R3, fail);
    a.ldx(Size::H, R2, R7, 10);
    a.ldx(Size::H, R3, R9, off::EG_SRC_MAC + 4);
    a.jmp(Cond::Ne, R2, R3, fail);
}

/// Jumps to `fail` if the skb cannot be encapsulated (see [`MAX_FRAME`]).
fn size_check(a: &mut Asm, fail: crate::asm::Label) {
    let ok = a.label();
    a.ldx(Size::W, R2, R6, SKB_LEN);
    a.jmp_imm(Cond::Gt, R2, MAX_FRAME, fail);
    a.ldx(Size::W, R3, R6, SKB_GSO_SIZE);
    a.jmp_imm(Cond::Ne, R3, 0, ok);
    a.jmp_imm(Cond::Gt, R2, MAX_LINEAR_FRAME, fail);
    a.bind(ok);
}

/// Program [3]'s hit: looks the key at `key` up in the ingress map `map` (R9 = the entry;
/// none: `miss`), sends frames whose offload is unfinished to `unfinished`, and removes
/// outer IPv4 + UDP + Geneve + options + inner Ethernet (failure: `error`).
fn decapsulate_hit(
    a: &mut Asm,
    map: i32,
    key: i16,
    flags: u64,
    [miss, unfinished, error]: [crate::asm::Label; 3],
) {
    a.ld_map_fd(R1, map);
    a.mov(R2, R10).alu64_imm(Alu::Add, R2, key as i32);
    a.call(MAP_LOOKUP_ELEM);
    a.jmp_imm(Cond::Eq, R0, 0, miss);
    a.mov(R9, R0);
    a.ldx(Size::DW, R2, R10, UNFINISHED);
    a.jmp_imm(Cond::Ne, R2, 0, unfinished);
    a.ldx(Size::DW, R3, R10, SAVED_OPT_LEN);
    a.alu64_imm(Alu::Add, R3, 50);
    a.mov_imm(R2, 0).alu64(Alu::Sub, R2, R3);
    a.mov(R1, R6).mov_imm(R3, BPF_ADJ_ROOM_MAC);
    a.ld_imm64(R4, flags);
    a.call(SKB_ADJUST_ROOM);
    a.jmp_imm(Cond::Ne, R0, 0, error);
}

/// Counts a packet of `len_reg` bytes in the flow entry at R9. Clobbers R0–R5.
fn count_flow(a: &mut Asm, len: impl FnOnce(&mut Asm)) {
    a.mov_imm(R1, 1);
    a.atomic_add(Size::DW, R9, off::PACKETS, R1);
    len(a);
    a.atomic_add(Size::DW, R9, off::BYTES, R1);
    a.call(KTIME_GET_NS);
    a.stx(Size::DW, R9, off::LAST_SEEN, R0);
}

/// The egress entry of the skb in R1 for `port` (programs [1] and [2]): R6 = skb, R7 =
/// the frame, R9 = the entry, its source MAC checked; a frame that is not IPv4 jumps to
/// `not_ipv4` (R6 and R7 set), anything else to `miss`.
fn egress_entry(
    a: &mut Asm,
    maps: MapFds,
    port: u32,
    miss: crate::asm::Label,
    not_ipv4: crate::asm::Label,
) {
    a.mov(R6, R1);
    ensure_linear(a, ETH_IP_TCP, miss);
    tcp_candidate(a, R7, 0, miss, not_ipv4);
    egress_key(a, port);
    a.ld_map_fd(R1, maps.egress);
    a.mov(R2, R10).alu64_imm(Alu::Add, R2, KEY as i32);
    a.call(MAP_LOOKUP_ELEM);
    a.jmp_imm(Cond::Eq, R0, 0, miss);
    a.mov(R9, R0);
    source_check(a, miss);
}

/// [`egress_entry`] for an IPv6 frame (R6 = skb): R7 = the frame, R9 = the entry of the
/// IPv6 egress map, its source MAC checked; anything else jumps to `miss`.
fn egress_entry6(a: &mut Asm, maps: MapFds, port: u32, miss: crate::asm::Label) {
    // 54 bytes are readable: nothing else (ARP, …) is pulled further
    a.ldx(Size::H, R2, R7, 12);
    a.jmp_imm(Cond::Ne, R2, ETH_IPV6_LE, miss);
    ensure_linear(a, ETH_IP6_TCP, miss);
    tcp_candidate6(a, R7, 0, miss);
    egress_key6(a, port);
    a.ld_map_fd(R1, maps.egress6);
    a.mov(R2, R10).alu64_imm(Alu::Add, R2, KEY6 as i32);
    a.call(MAP_LOOKUP_ELEM);
    a.jmp_imm(Cond::Eq, R0, 0, miss);
    a.mov(R9, R0);
    source_check(a, miss);
}

/// [1] `eth0` tcx egress, in the instance's namespace: a frame of an installed flow goes
/// down the conduit (`conduit` = the conduit's instance-end ifindex); anything else
/// continues to the TAP, i.e. to the agent's slow path.
pub fn egress(maps: MapFds, port: u32, conduit: u32) -> Result<Vec<Insn>, AsmError> {
    let mut a = Asm::new();
    let miss = a.label();
    let too_big = a.label();
    let ipv6 = a.label();
    let hit = a.label();
    egress_entry(&mut a, maps, port, miss, ipv6);
    a.bind(hit);
    size_check(&mut a, too_big);
    count(&mut a, maps.stats, Stat::EgressHit);
    a.mov_imm(R1, conduit as i32)
        .mov_imm(R2, 0)
        .call(REDIRECT)
        .exit();
    a.bind(ipv6);
    egress_entry6(&mut a, maps, port, miss);
    a.ja(hit);
    a.bind(too_big);
    count(&mut a, maps.stats, Stat::EgressTooBig);
    a.ret(TCX_NEXT);
    a.bind(miss);
    count(&mut a, maps.stats, Stat::EgressMiss);
    a.ret(TCX_NEXT);
    a.finish()
}

/// [2] The conduit's host end, tcx ingress: the trust boundary (the instance can send
/// anything into its end of the conduit). The frame is looked up again with this port's
/// id and checked as in [1]; a miss is dropped. A hit is encapsulated in place: 66 bytes
/// of room after the Ethernet header, the entry's 80-byte template written over the
/// front (outer Ethernet/IPv4/UDP/Geneve + offload option + the inner Ethernet header
/// the engine chose), lengths and the IPv4 checksum patched, the offload option filled
/// with this skb's GSO size and header length so that a receiver without an entry (its
/// agent) can hand the frame to its TAP; then it is counted and sent to the underlay
/// (`underlay` ifindex; `ingress`: straight into its receive path, as for loopback,
/// where an egress redirect would segment and checksum in software).
pub fn conduit(
    maps: MapFds,
    port: u32,
    underlay: u32,
    ingress: bool,
) -> Result<Vec<Insn>, AsmError> {
    let mut a = Asm::new();
    let drop = a.label();
    let error = a.label();
    let ipv6 = a.label();
    let encap = a.label();
    egress_entry(&mut a, maps, port, drop, ipv6);
    size_check(&mut a, drop);
    offload_facts(&mut a, 34, GSO_TCPV4);
    a.bind(encap);
    // room for the encapsulation
    a.mov(R1, R6)
        .mov_imm(R2, const { imm32(ENCAP_ROOM) })
        .mov_imm(R3, BPF_ADJ_ROOM_MAC);
    a.ld_imm64(R4, ENCAP_FLAGS);
    a.call(SKB_ADJUST_ROOM);
    a.jmp_imm(Cond::Ne, R0, 0, error);
    a.mov(R1, R6).mov_imm(R2, 0).mov(R3, R9);
    a.alu64_imm(Alu::Add, R3, off::EG_HEADERS as i32);
    a.mov_imm(R4, const { imm32(ENCAP_HEADERS) }).mov_imm(R5, 0);
    a.call(SKB_STORE_BYTES);
    a.jmp_imm(Cond::Ne, R0, 0, error);
    load_packet(&mut a);
    a.mov(R1, R7)
        .alu64_imm(Alu::Add, R1, const { imm32(ENCAP_HEADERS) });
    a.jmp(Cond::Gt, R1, R8, error);
    // R2 = outer IPv4 total length = inner frame + 66 - 14
    a.ldx(Size::DW, R2, R10, SAVED_LEN);
    a.alu64_imm(Alu::Add, R2, const { imm32(ENCAP_ROOM - 14) });
    a.mov(R3, R2).to_be(R3, 16);
    a.stx(Size::H, R7, pkt::IP_TOT_LEN, R3);
    a.ldx(Size::H, R4, R7, pkt::IP_CSUM).to_be(R4, 16);
    a.alu64(Alu::Add, R4, R2);
    for _ in 0..2 {
        a.mov(R5, R4).alu64_imm(Alu::Rsh, R5, 16);
        a.alu64_imm(Alu::And, R4, 0xffff).alu64(Alu::Add, R4, R5);
    }
    a.alu64_imm(Alu::Xor, R4, 0xffff).to_be(R4, 16);
    a.stx(Size::H, R7, pkt::IP_CSUM, R4);
    a.mov(R3, R2).alu64_imm(Alu::Sub, R3, 20).to_be(R3, 16);
    a.stx(Size::H, R7, pkt::UDP_LEN, R3);
    a.ldx(Size::DW, R3, R10, SAVED_GSO_TYPE);
    a.stx(Size::B, R7, pkt::VNET_GSO_TYPE, R3);
    a.ldx(Size::DW, R3, R10, SAVED_HDR_LEN);
    a.stx(Size::H, R7, pkt::VNET_HDR_LEN, R3);
    a.ldx(Size::W, R3, R6, SKB_GSO_SIZE);
    a.stx(Size::H, R7, pkt::VNET_GSO_SIZE, R3);
    count_flow(&mut a, |a| {
        a.ldx(Size::DW, R1, R10, SAVED_LEN);
    });
    count(&mut a, maps.stats, Stat::ConduitHit);
    let flags = if ingress { BPF_F_INGRESS } else { 0 };
    a.mov_imm(R1, underlay as i32)
        .mov_imm(R2, flags)
        .call(REDIRECT)
        .exit();
    a.bind(ipv6);
    egress_entry6(&mut a, maps, port, drop);
    size_check(&mut a, drop);
    offload_facts(&mut a, 54, GSO_TCPV6);
    a.ja(encap);
    a.bind(error);
    count(&mut a, maps.stats, Stat::ConduitError);
    a.ret(TCX_DROP);
    a.bind(drop);
    count(&mut a, maps.stats, Stat::ConduitDrop);
    a.ret(TCX_DROP);
    a.finish()
}

/// Saves what the offload option needs, read before the headers move (R6 = skb, R7 =
/// the frame, its TCP header at `l4`): the skb's length, the header length (up to the
/// end of the TCP options) and the GSO type (`gso_tcp`, with ECN if CWR is set; none
/// without GSO).
fn offload_facts(a: &mut Asm, l4: i16, gso_tcp: i32) {
    let no_gso = a.label();
    a.ldx(Size::W, R2, R6, SKB_LEN);
    a.stx(Size::DW, R10, SAVED_LEN, R2);
    a.ldx(Size::B, R2, R7, l4 + 12); // TCP data offset
    a.alu64_imm(Alu::Rsh, R2, 4).alu64_imm(Alu::Lsh, R2, 2);
    a.alu64_imm(Alu::Add, R2, i32::from(l4));
    a.stx(Size::DW, R10, SAVED_HDR_LEN, R2);
    a.mov_imm(R4, 0);
    a.ldx(Size::W, R3, R6, SKB_GSO_SIZE);
    a.jmp_imm(Cond::Eq, R3, 0, no_gso);
    a.ldx(Size::B, R2, R7, l4 + 13);
    a.alu64_imm(Alu::And, R2, 0x80); // CWR: VIRTIO_NET_HDR_GSO_ECN
    a.mov_imm(R4, gso_tcp);
    a.alu64(Alu::Or, R4, R2);
    a.bind(no_gso);
    a.stx(Size::DW, R10, SAVED_GSO_TYPE, R4);
}

/// [3] The underlay device's tcx ingress (`lo` on one machine; one program per agent,
/// several agents share it). Anything but Geneve to this agent's `underlay_ip` passes on
/// untouched. Geneve is parsed (options skipped by length; the O and C bits send it to
/// the agent) and looked up by (VNI, outer source, inner tuple): the outer source in the
/// key is the origin authentication. A miss goes on to the agent's socket. So does a hit
/// whose frame is not finished ([`Stat::UnderlayUnfinished`]): one with options other
/// than none or Fort's offload option flagged [`OPTION_FLAG_KERNEL`]. A sender's agent
/// (its engine keeps its side of the flow) sends what its instance's kernel handed the
/// TAP, TSO super-frames with partial checksums, described by the option only; delivered
/// as they are, the instance would find the checksum wrong. The receiving agent writes
/// the option's virtio-net header with the frame into the TAP, whose kernel finishes it.
/// Frames of the conduit program [2] carry the flag: their kernel state (or, off the
/// machine, a finished checksum) comes with them. A hit is decapsulated (all but the
/// outer Ethernet header removed; it becomes the inner one, rewritten from the entry),
/// counted and handed with `bpf_redirect_peer` to the destination port's conduit,
/// crossing into the instance's namespace without a backlog queue.
///
/// A miss is not simply passed on: a frame the fast path redirected into `lo` has no
/// route attached, and the routing of a 127/8 destination arriving without one fails
/// as a martian unless `route_localnet` is on. So misses addressed to this agent are
/// re-injected into the agent's own *upcall* device (`upcall`, MAC `upcall_mac`), on
/// which `route_localnet` and `accept_local` are on, and reach the agent's socket from
/// there. On a real underlay (a NIC and routable addresses) `upcall` would be 0 and
/// misses would simply continue.
pub fn underlay(
    maps: MapFds,
    underlay_ip: [u8; 4],
    upcall: u32,
    upcall_mac: [u8; 6],
) -> Result<Vec<Insn>, AsmError> {
    let mut a = Asm::new();
    let next = a.label();
    let miss = a.label();
    let error = a.label();
    let unfinished = a.label();
    a.mov(R6, R1);
    a.ldx(Size::W, R2, R6, SKB_PROTOCOL);
    a.jmp_imm(Cond::Ne, R2, 0x0008, next);
    load_packet(&mut a);
    a.mov(R1, R7).alu64_imm(Alu::Add, R1, 42);
    a.jmp(Cond::Gt, R1, R8, next);
    a.ldx(Size::H, R2, R7, 12);
    a.jmp_imm(Cond::Ne, R2, 0x0008, next);
    a.ldx(Size::B, R2, R7, 14);
    a.jmp_imm(Cond::Ne, R2, 0x45, next);
    a.ldx(Size::B, R2, R7, 23);
    a.jmp_imm(Cond::Ne, R2, 17, next);
    a.ldx(Size::W, R2, R7, 30);
    a.alu32_imm(Alu::Mov, R3, u32::from_ne_bytes(underlay_ip) as i32);
    a.jmp(Cond::Ne, R2, R3, next);
    a.ldx(Size::H, R2, R7, 20);
    a.alu64_imm(Alu::And, R2, 0xff3f);
    a.jmp_imm(Cond::Ne, R2, 0, next);
    a.ldx(Size::H, R2, R7, 36);
    a.jmp_imm(Cond::Ne, R2, i32::from(GENEVE_PORT.swap_bytes()), next);
    // Geneve to this agent: from here on a non-hit is a miss
    ensure_linear(&mut a, 50, miss);
    a.ldx(Size::B, R2, R7, 42);
    a.mov(R3, R2).alu64_imm(Alu::And, R3, 0xc0); // version
    a.jmp_imm(Cond::Ne, R3, 0, miss);
    a.ldx(Size::B, R3, R7, 43);
    a.alu64_imm(Alu::And, R3, 0xc0); // O, C
    a.jmp_imm(Cond::Ne, R3, 0, miss);
    a.ldx(Size::H, R3, R7, 44);
    a.jmp_imm(Cond::Ne, R3, 0x5865, miss); // 65 58: Ethernet
    a.alu64_imm(Alu::And, R2, 0x3f).alu64_imm(Alu::Lsh, R2, 2);
    a.stx(Size::DW, R10, SAVED_OPT_LEN, R2);
    a.ldx(Size::W, R3, R7, 46);
    a.alu64_imm(Alu::And, R3, 0x00ff_ffff);
    a.stx(Size::W, R10, KEY, R3);
    a.ldx(Size::W, R3, R7, 26);
    a.stx(Size::W, R10, KEY + 4, R3);
    // the inner Ethernet/IPv4/TCP headers must be linear: pull them if they are not
    // (a datagram from a socket has its payload in page fragments)
    let linear = a.label();
    let short = a.label();
    a.mov(R1, R7)
        .alu64(Alu::Add, R1, R2)
        .alu64_imm(Alu::Add, R1, 50 + 54);
    a.jmp(Cond::Le, R1, R8, linear);
    a.alu64_imm(Alu::Add, R2, 50 + 54);
    a.ldx(Size::W, R3, R6, SKB_LEN);
    a.jmp(Cond::Lt, R3, R2, short); // shorter than the headers: miss below
    a.mov(R1, R6).call(SKB_PULL_DATA);
    a.bind(short);
    load_packet(&mut a);
    a.ldx(Size::DW, R2, R10, SAVED_OPT_LEN);
    a.bind(linear);
    // R9 = packet + options: the inner frame starts at R9 + 50
    a.mov(R9, R7).alu64(Alu::Add, R9, R2);
    a.mov(R1, R9).alu64_imm(Alu::Add, R1, 50 + 54);
    a.jmp(Cond::Gt, R1, R8, miss);
    let ipv6 = a.label();
    tcp_candidate(&mut a, R9, 50, miss, ipv6);
    for (o, k) in [(76, KEY + 8), (80, KEY + 12), (84, KEY + 16)] {
        a.ldx(Size::W, R3, R9, o);
        a.stx(Size::W, R10, k, R3);
    }
    finished(&mut a);
    a.st(Size::W, R10, KEY + 20, i32::from(IPPROTO_TCP));
    decapsulate_hit(
        &mut a,
        maps.ingress,
        KEY,
        DECAP_FLAGS,
        [miss, unfinished, error],
    );
    let decapsulated = a.label();
    a.bind(decapsulated);
    load_packet(&mut a);
    a.mov(R1, R7).alu64_imm(Alu::Add, R1, 14);
    let gone = a.label();
    a.jmp(Cond::Gt, R1, R8, gone);
    for o in [0i16, 4, 8] {
        a.ldx(Size::W, R2, R9, off::IN_MACS + o);
        a.stx(Size::W, R7, o, R2);
    }
    count_flow(&mut a, |a| {
        a.ldx(Size::W, R1, R6, SKB_LEN);
    });
    count(&mut a, maps.stats, Stat::UnderlayHit);
    a.ldx(Size::W, R1, R9, off::IN_IFINDEX);
    a.mov_imm(R2, 0).call(REDIRECT_PEER).exit();
    a.bind(ipv6);
    underlay6(&mut a, maps, miss, error, unfinished);
    a.ja(decapsulated);
    a.bind(gone);
    a.ret(TCX_DROP);
    a.bind(error);
    count(&mut a, maps.stats, Stat::UnderlayError);
    let upcall_label = a.label();
    a.ja(upcall_label);
    a.bind(unfinished);
    count(&mut a, maps.stats, Stat::UnderlayUnfinished);
    a.ja(upcall_label);
    a.bind(miss);
    count(&mut a, maps.stats, Stat::UnderlayMiss);
    a.bind(upcall_label);
    if upcall != 0 {
        load_packet(&mut a);
        a.mov(R1, R7).alu64_imm(Alu::Add, R1, 14);
        a.jmp(Cond::Gt, R1, R8, next);
        let m = upcall_mac;
        a.st(Size::W, R7, 0, i32::from_ne_bytes([m[0], m[1], m[2], m[3]]));
        a.st(Size::H, R7, 4, i32::from(u16::from_ne_bytes([m[4], m[5]])));
        a.mov_imm(R1, upcall as i32)
            .mov_imm(R2, BPF_F_INGRESS)
            .call(REDIRECT)
            .exit();
    }
    a.bind(next);
    a.ret(TCX_NEXT);
    a.finish()
}

/// The IPv6 block of [`underlay`], entered with R6 = skb, R7 = the packet, R8 = its
/// end, R9 = the packet + the options' length (the inner frame at R9 + 50, 54 bytes
/// readable), the VNI and outer source at `KEY` and `KEY + 4`: the inner frame checked
/// as an IPv6 TCP candidate (pulled further if needed: 74 bytes), looked up in the IPv6
/// ingress map by (VNI, outer source, inner tuple), and decapsulated with
/// `skb->protocol` and the remaining Ethernet header's ethertype set to IPv6; then R9 =
/// the entry and the caller continues as for IPv4 (the MACs). Otherwise jumps to `miss`, `error` or `unfinished`, as IPv4 does.
fn underlay6(
    a: &mut Asm,
    maps: MapFds,
    miss: crate::asm::Label,
    error: crate::asm::Label,
    unfinished: crate::asm::Label,
) {
    let linear = a.label();
    a.ldx(Size::H, R2, R9, 50 + 12);
    a.jmp_imm(Cond::Ne, R2, ETH_IPV6_LE, miss);
    a.ldx(Size::DW, R2, R10, SAVED_OPT_LEN);
    a.mov(R1, R9)
        .alu64_imm(Alu::Add, R1, const { 50 + ETH_IP6_TCP });
    a.jmp(Cond::Le, R1, R8, linear);
    a.alu64_imm(Alu::Add, R2, const { 50 + ETH_IP6_TCP });
    a.ldx(Size::W, R3, R6, SKB_LEN);
    a.jmp(Cond::Lt, R3, R2, miss);
    a.mov(R1, R6).call(SKB_PULL_DATA);
    load_packet(a);
    a.ldx(Size::DW, R2, R10, SAVED_OPT_LEN);
    a.mov(R9, R7).alu64(Alu::Add, R9, R2);
    a.bind(linear);
    a.mov(R1, R9)
        .alu64_imm(Alu::Add, R1, const { 50 + ETH_IP6_TCP });
    a.jmp(Cond::Gt, R1, R8, miss);
    tcp_candidate6(a, R9, 50, miss);
    for o in [0i16, 4] {
        a.ldx(Size::W, R3, R10, KEY + o);
        a.stx(Size::W, R10, KEY6 + o, R3);
    }
    // inner source, destination and ports: 36 bytes from the inner frame's byte 22
    for i in 0..9i16 {
        a.ldx(Size::W, R3, R9, 50 + 22 + 4 * i);
        a.stx(Size::W, R10, KEY6 + 8 + 4 * i, R3);
    }
    finished(a);
    a.st(Size::W, R10, KEY6 + 44, i32::from(IPPROTO_TCP));
    decapsulate_hit(
        a,
        maps.ingress6,
        KEY6,
        DECAP_FLAGS6,
        [miss, unfinished, error],
    );
    // the outer Ethernet header stays and becomes the inner one: IPv6's ethertype
    load_packet(a);
    a.mov(R1, R7).alu64_imm(Alu::Add, R1, 14);
    a.jmp(Cond::Gt, R1, R8, error);
    a.st(Size::H, R7, 12, ETH_IPV6_LE);
}

/// Writes at `UNFINISHED` whether the inner frame of the Geneve packet (R7 = the packet,
/// R9 = the packet + the options' length, 104 bytes readable from R9) needs its agent:
/// 0 without options or with exactly Fort's offload option flagged
/// [`OPTION_FLAG_KERNEL`], 1 otherwise. Clobbers R2–R5.
fn finished(a: &mut Asm) {
    let done = a.label();
    a.mov_imm(R4, 0);
    a.ldx(Size::DW, R2, R10, SAVED_OPT_LEN);
    a.jmp_imm(Cond::Eq, R2, 0, done);
    a.mov_imm(R4, 1);
    a.jmp_imm(Cond::Ne, R2, i32::from(OPTION_LEN), done);
    // R9 = the packet + OPTION_LEN; the option's header (4 bytes) precedes its data, the
    // virtio-net header, at the offsets the conduit program writes them
    a.ldx(Size::W, R3, R9, pkt::VNET - 4 - OPTION_LEN);
    let [c0, c1] = OPTION_CLASS.to_be_bytes();
    let header = u32::from_ne_bytes([c0, c1, OPTION_TYPE, OPTION_WORDS]);
    a.alu32_imm(Alu::Mov, R5, header as i32);
    a.jmp(Cond::Ne, R3, R5, done);
    a.ldx(Size::B, R3, R9, pkt::OPTION_FLAGS - OPTION_LEN);
    a.alu64_imm(Alu::And, R3, i32::from(OPTION_FLAG_KERNEL));
    a.jmp_imm(Cond::Eq, R3, 0, done);
    a.mov_imm(R4, 0);
    a.bind(done);
    a.stx(Size::DW, R10, UNFINISHED, R4);
}

/// The whole offload option: its header word and data words.
const OPTION_LEN: i16 = 4 * (1 + OPTION_WORDS as i16);

/// [4] The conduit's instance end, tcx ingress: what the underlay program delivered is
/// received on `eth0` (`eth0` = its ifindex), like any frame from the agent.
/// Only IPv4 and IPv6 are delivered: nothing else has a reason to come down the
/// conduit.
pub fn deliver(eth0: u32) -> Result<Vec<Insn>, AsmError> {
    let mut a = Asm::new();
    let drop = a.label();
    let ip = a.label();
    a.ldx(Size::W, R2, R1, SKB_PROTOCOL);
    a.jmp_imm(Cond::Eq, R2, ETH_IPV4_LE, ip);
    a.jmp_imm(Cond::Ne, R2, ETH_IPV6_LE, drop);
    a.bind(ip);
    a.mov_imm(R1, eth0 as i32)
        .mov_imm(R2, BPF_F_INGRESS)
        .call(REDIRECT)
        .exit();
    a.bind(drop);
    a.ret(TCX_DROP);
    a.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps() -> MapFds {
        MapFds {
            egress: 3,
            ingress: 4,
            egress6: 6,
            ingress6: 7,
            stats: 5,
        }
    }

    #[test]
    fn programs_assemble() {
        let e = egress(maps(), 1, 5).unwrap();
        let c = conduit(maps(), 1, 1, true).unwrap();
        let u = underlay(maps(), [127, 0, 0, 2], 9, [2, 0, 0, 0, 0, 1]).unwrap();
        let d = deliver(2).unwrap();
        for p in [&e, &c, &u, &d] {
            // every program ends in exit and stays far below the verifier's limits
            assert!(p.len() < 1000);
            assert!(p.iter().any(|i| i.code == 0x95));
        }
    }

    #[test]
    fn adjust_room_flags_match_the_kernel_abi() {
        // BPF_F_ADJ_ROOM_FIXED_GSO | ENCAP_L3_IPV4 | ENCAP_L4_UDP | ENCAP_L2_ETH |
        // BPF_F_ADJ_ROOM_ENCAP_L2(14)
        assert_eq!(ENCAP_FLAGS, 0x0e00_0000_0000_0053);
        assert_eq!(DECAP_FLAGS, 1);
        // | BPF_F_ADJ_ROOM_DECAP_L3_IPV6
        assert_eq!(DECAP_FLAGS6, 0x101);
    }

    #[test]
    fn the_underlay_address_is_compared_as_loaded() {
        // a 32-bit load of 127.0.0.200 on a little-endian host; alu32 mov zero-extends,
        // so an address with the top bit set still compares equal
        let ip = [127, 0, 0, 200];
        let u = underlay(maps(), ip, 0, [0; 6]).unwrap();
        let imm = u32::from_ne_bytes(ip) as i32;
        assert!(u.iter().any(|i| i.code == 0xb4 && i.imm == imm));
    }
}
