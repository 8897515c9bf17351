//! The ARP proxy: requests are answered by the host, never broadcast (§7).
//!
//! The gateway (.1) and the resolver (base + 2, when on the subnet) answer with the
//! router's MAC; a peer in the subnet with its own ENI's MAC (from V2P). Everything
//! else, probes and gratuitous ARP included, gets no answer.

use crate::port::Port;
use crate::verdict::DropReason;
use crate::vpc::{Subnet, Vpc};
use crate::wire::arp;
use crate::wire::ethernet::{self, ethertype};

/// Writes the reply to `out`, or says why there is none.
pub fn answer(
    port: &Port,
    vpc: &Vpc,
    subnet: &Subnet,
    frame: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), DropReason> {
    let eth = ethernet::Frame::new_checked(frame).map_err(|_| DropReason::Malformed)?;
    let req = arp::Packet::new_checked(eth.payload()).map_err(|_| DropReason::Malformed)?;
    if req.operation() != arp::operation::REQUEST {
        return Err(DropReason::ArpUnanswered);
    }
    if req.sender_mac() != port.mac {
        return Err(DropReason::SourceMacMismatch);
    }
    let spa = req.sender_ip();
    if spa.is_unspecified() {
        // address conflict probe (RFC 5227): the VPC never has conflicts to report
        return Err(DropReason::ArpUnanswered);
    }
    if port.source_dest_check && !port.owns(spa) {
        return Err(DropReason::SourceCheck);
    }
    let tpa = req.target_ip();
    if tpa == spa {
        return Err(DropReason::ArpUnanswered);
    }
    let mac = if Some(tpa) == subnet.router_ip() || (tpa == vpc.dns && subnet.contains(tpa)) {
        vpc.router_mac
    } else if subnet.contains(tpa) {
        vpc.v2p
            .get(tpa)
            .map(|m| m.mac)
            .ok_or(DropReason::ArpUnanswered)?
    } else {
        return Err(DropReason::ArpUnanswered);
    };
    out.clear();
    out.resize(ethernet::HEADER_LEN + arp::PACKET_LEN, 0);
    let mut f = ethernet::Frame::new_unchecked(&mut out[..]);
    ethernet::Repr {
        src: mac,
        dst: port.mac,
        ethertype: ethertype::ARP,
    }
    .emit(&mut f);
    arp::Repr {
        operation: arp::operation::REPLY,
        sender_mac: mac,
        sender_ip: tpa,
        target_mac: port.mac,
        target_ip: spa,
    }
    .emit(&mut arp::Packet::new_unchecked(f.payload_mut()));
    Ok(())
}
