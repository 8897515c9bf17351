//! For random sequences of API changes, the updates each host receives, applied in order,
//! equal a fresh derivation of that host's program; and hosts hold only what they need.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use fort_control::region::Host;
use fort_control::{Config, Control, Scope};
use fort_dataplane::HostProgram;
use fort_dataplane::program::Underlay;
use fort_ec2_api::execute;
use fort_ec2_api::query::Params;
use fort_mapping::programs::Programs;
use fort_mapping::server::to_proto;
use fort_proto::mapping::item_key::Kind;
use fort_proto::mapping::{Item, ItemKey, ItemValue, ProgramUpdate};
use fort_store::EmbeddedStore;
use fort_sync::client::Cache;
use fort_sync::host_state::HostState;
use proptest::prelude::*;

const HOSTS: [(&str, &str); 3] = [
    ("h1", "us-east-1a"),
    ("h2", "us-east-1a"),
    ("h3", "us-east-1b"),
];

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[usize::try_from(self.next()).expect("31 bits") % xs.len()]
    }
}

fn find(xml: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = xml;
    let mut before = '>';
    while let Some(i) = rest.find(prefix) {
        if i > 0 {
            before = rest[..i].chars().last().unwrap_or('>');
        }
        let cand = &rest[i..];
        let len = prefix.len() + 17;
        if !before.is_ascii_alphanumeric()
            && before != '-'
            && cand.len() >= len
            && cand[prefix.len()..len]
                .bytes()
                .all(|b| b.is_ascii_hexdigit())
        {
            out.push(cand[..len].to_owned());
        }
        before = prefix.chars().last().unwrap_or('>');
        rest = &rest[i + prefix.len()..];
    }
    out
}

/// The account and region the tests act in.
fn scope() -> Scope {
    Scope {
        account: "123456789012".into(),
        region: "us-east-1".into(),
    }
}

/// Runs one EC2 Query request (which must succeed) and returns its answer.
async fn call(control: &Control, scope: &Scope, body: String) -> String {
    execute(control, scope, &Params::from_form(body.as_bytes()).unwrap())
        .await
        .unwrap()
        .as_str()
        .to_owned()
}

/// A control plane on an in-memory store that knows the hosts of [`HOSTS`].
async fn control_with_hosts() -> Arc<Control> {
    let store = Arc::new(EmbeddedStore::in_memory().unwrap());
    let control = Control::open(store, Config::default()).await.unwrap();
    add_hosts(&control).await;
    control
}

async fn add_hosts(control: &Control) {
    for (id, zone) in HOSTS {
        let underlay = format!("127.0.0.{}", &id[1..]).parse().unwrap();
        control
            .write_global(|g| {
                g.hosts.insert(Host {
                    id: id.into(),
                    zone: zone.into(),
                    underlay,
                    role: fort_model::HostRole::Instance,
                    instances: 0,
                    available: true,
                    server: String::new(),
                });
                Ok(())
            })
            .await
            .unwrap();
    }
}

async fn run(seed: u64, steps: usize) {
    run_on(control_with_hosts().await, None, seed, steps).await;
}

/// Hands one change's updates to the hosts' caches (the edge's is the last).
fn deliver(
    programs: &mut Programs,
    caches: &mut [Cache],
    world: &fort_control::World,
    change: &fort_control::Change,
) {
    for (host, update) in programs.change(world, change.seq, &change.keys, Instant::now()) {
        let i = HOSTS
            .iter()
            .position(|(h, _)| *h == host)
            .or((host == EDGE).then_some(HOSTS.len()))
            .expect("known host");
        caches[i]
            .apply(to_proto(&update))
            .expect("updates arrive in sequence");
    }
}

/// The property on `control`; with a `follower` (another server on the same etcd), its
/// memory, built from the store's watch, must derive what the hosts hold too.
async fn run_on(control: Arc<Control>, follower: Option<Arc<Control>>, seed: u64, steps: usize) {
    run_ops(control, follower, seed, steps, None).await;
}

/// The operations of [`run_ops`] that build transit gateways and their peerings (and the
/// VPCs, subnets and instances they join).
const TRANSIT_OPS: [u64; 18] = [
    0, 2, 3, 4, 23, 23, 25, 26, 26, 27, 27, 28, 29, 29, 37, 37, 37, 37,
];

/// The property, with the operations drawn from `ops` (all: `None`).
async fn run_ops(
    control: Arc<Control>,
    follower: Option<Arc<Control>>,
    seed: u64,
    steps: usize,
    ops: Option<&[u64]>,
) {
    // an edge host too: it holds the gateways' items (VPN connections, what a transit
    // gateway's VPN attachment sends into each VPC) and the VPCs they serve
    add_edge(&control).await;
    let mut changes = control.subscribe();
    let mut programs = control.read_world(|w| Programs::new(w, 7)).await;
    let mut caches: Vec<Cache> = HOSTS.iter().map(|_| Cache::default()).collect();
    // (the edge's is the last)
    caches.push(Cache::default());
    for u in programs.connect(EDGE, 0, 0, Instant::now()) {
        caches[HOSTS.len()].apply(to_proto(&u)).unwrap();
    }
    for (i, (h, _)) in HOSTS.iter().enumerate() {
        for u in programs.connect(h, 0, 0, Instant::now()) {
            caches[i].apply(to_proto(&u)).unwrap();
        }
    }
    let scope = scope();
    let mut rng = Lcg(seed);
    let mut vpcs: Vec<String> = Vec::new();
    let mut subnets: Vec<String> = Vec::new();
    let mut groups: Vec<String> = Vec::new();
    let mut instances: Vec<String> = Vec::new();
    let mut tables: Vec<String> = Vec::new();
    let mut allocations: Vec<String> = Vec::new();
    let mut peerings: Vec<String> = Vec::new();
    // prefix lists and their current versions
    let mut lists: Vec<(String, u64)> = Vec::new();
    let mut gateways: Vec<String> = Vec::new();
    let mut attachments: Vec<String> = Vec::new();
    let mut peering_attachments: Vec<String> = Vec::new();
    let mut gateway_tables: Vec<String> = Vec::new();
    let mut subnet_vpcs: Vec<(String, String)> = Vec::new();
    let mut endpoints: Vec<String> = Vec::new();
    let mut vgws: Vec<String> = Vec::new();
    let mut vpns: Vec<String> = Vec::new();
    let mut eigws: Vec<String> = Vec::new();
    let mut nats: Vec<String> = Vec::new();
    for step in 0..steps {
        let pick = |rng: &mut Lcg, xs: &[String]| {
            if xs.is_empty() {
                "x".to_owned()
            } else {
                rng.pick(xs).clone()
            }
        };
        let block = |rng: &mut Lcg| format!("10.{}.{}.0/24", rng.next() % 4, rng.next() % 8);
        let mut modified = None;
        let op = match ops {
            Some(ops) => *rng.pick(ops),
            None => rng.next() % 38,
        };
        let body = match op {
            // IPv6: a dual-stack VPC, egress-only gateways (the edge's items) and
            // routes to them, and an internet gateway's IPv6 blocks
            34 if !vpcs.is_empty() && rng.next().is_multiple_of(2) => format!(
                "Action=AssociateVpcCidrBlock&VpcId={}&AmazonProvidedIpv6CidrBlock=true",
                pick(&mut rng, &vpcs)
            ),
            34 => format!(
                "Action=CreateVpc&CidrBlock=10.{}.0.0/16&AmazonProvidedIpv6CidrBlock=true",
                rng.next() % 4
            ),
            35 if !eigws.is_empty() && rng.next().is_multiple_of(3) => format!(
                "Action=DeleteEgressOnlyInternetGateway&EgressOnlyInternetGatewayId={}",
                pick(&mut rng, &eigws)
            ),
            35 => {
                let made = execute(
                    &control,
                    &scope,
                    &Params::from_form(
                        format!(
                            "Action=CreateEgressOnlyInternetGateway&VpcId={}",
                            pick(&mut rng, &vpcs)
                        )
                        .as_bytes(),
                    )
                    .unwrap(),
                )
                .await;
                let eigw = made
                    .ok()
                    .and_then(|x| find(x.as_str(), "eigw-").into_iter().next())
                    .unwrap_or_else(|| "x".into());
                eigws.push(eigw.clone());
                format!(
                    "Action=CreateRoute&RouteTableId={}&DestinationIpv6CidrBlock=::/0&EgressOnlyInternetGatewayId={eigw}",
                    pick(&mut rng, &tables)
                )
            }
            36 => format!(
                "Action=CreateRoute&RouteTableId={}&DestinationIpv6CidrBlock=2600:1f00:{:x}::/40&VpcPeeringConnectionId={}",
                pick(&mut rng, &tables),
                rng.next() % 4,
                pick(&mut rng, &peerings)
            ),
            // Site-to-Site VPN: a gateway attached to a VPC, connections (the edge's
            // items), their static routes propagating into tables, deletes and detaches
            33 if !vpcs.is_empty() => match rng.next() % 6 {
                0 => {
                    let out = execute(
                        &control,
                        &scope,
                        &Params::from_form(b"Action=CreateVpnGateway&Type=ipsec.1").unwrap(),
                    )
                    .await
                    .unwrap();
                    let vgw = find(out.as_str(), "vgw-").remove(0);
                    vgws.push(vgw.clone());
                    format!(
                        "Action=AttachVpnGateway&VpnGatewayId={vgw}&VpcId={}",
                        pick(&mut rng, &vpcs)
                    )
                }
                1 => {
                    let out = execute(
                        &control,
                        &scope,
                        &Params::from_form(
                            format!(
                                "Action=CreateCustomerGateway&Type=ipsec.1&BgpAsn=65000&IpAddress=192.0.2.{}",
                                10 + step % 200
                            )
                            .as_bytes(),
                        )
                        .unwrap(),
                    )
                    .await
                    .unwrap();
                    let cgw = find(out.as_str(), "cgw-").remove(0);
                    // (or a transit gateway's: its item follows the gateway's attachments
                    // and tables, and the VPCs attached name the edge it ends at)
                    if !gateways.is_empty() && rng.next().is_multiple_of(2) {
                        format!(
                            "Action=CreateVpnConnection&Type=ipsec.1&CustomerGatewayId={cgw}&TransitGatewayId={}&Options.StaticRoutesOnly=true",
                            pick(&mut rng, &gateways)
                        )
                    } else {
                        format!(
                            "Action=CreateVpnConnection&Type=ipsec.1&CustomerGatewayId={cgw}&VpnGatewayId={}&Options.StaticRoutesOnly=true",
                            pick(&mut rng, &vgws)
                        )
                    }
                }
                2 => format!(
                    "Action=CreateVpnConnectionRoute&VpnConnectionId={}&DestinationCidrBlock=192.168.{}.0/24",
                    pick(&mut rng, &vpns),
                    rng.next() % 4
                ),
                3 => format!(
                    "Action={}VgwRoutePropagation&RouteTableId={}&GatewayId={}",
                    if rng.next().is_multiple_of(3) {
                        "Disable"
                    } else {
                        "Enable"
                    },
                    pick(&mut rng, &tables),
                    pick(&mut rng, &vgws)
                ),
                4 => format!(
                    "Action=DeleteVpnConnection&VpnConnectionId={}",
                    pick(&mut rng, &vpns)
                ),
                _ => format!(
                    "Action=DetachVpnGateway&VpnGatewayId={}&VpcId={}",
                    pick(&mut rng, &vgws),
                    pick(&mut rng, &vpcs)
                ),
            },
            // gateway route tables: associations, propagations, static and blackhole
            // routes decide which VPCs each attachment reaches
            26 if !gateways.is_empty() => format!(
                "Action=CreateTransitGatewayRouteTable&TransitGatewayId={}",
                pick(&mut rng, &gateways)
            ),
            27 if !gateway_tables.is_empty() => format!(
                "Action={}TransitGatewayRouteTable&TransitGatewayRouteTableId={}&TransitGatewayAttachmentId={}",
                if rng.next().is_multiple_of(2) {
                    "Associate"
                } else {
                    "Disassociate"
                },
                pick(&mut rng, &gateway_tables),
                pick(&mut rng, &attachments)
            ),
            28 if !gateway_tables.is_empty() => format!(
                "Action={}TransitGatewayRouteTablePropagation&TransitGatewayRouteTableId={}&TransitGatewayAttachmentId={}",
                if rng.next().is_multiple_of(2) {
                    "Enable"
                } else {
                    "Disable"
                },
                pick(&mut rng, &gateway_tables),
                pick(&mut rng, &attachments)
            ),
            // (a default route too: centralised egress through a VPC with a NAT gateway)
            29 if !gateway_tables.is_empty() && rng.next().is_multiple_of(4) => format!(
                "Action=CreateTransitGatewayRoute&TransitGatewayRouteTableId={}&DestinationCidrBlock=0.0.0.0/0&TransitGatewayAttachmentId={}",
                pick(&mut rng, &gateway_tables),
                pick(&mut rng, &attachments)
            ),
            29 if !gateway_tables.is_empty() => format!(
                "Action=CreateTransitGatewayRoute&TransitGatewayRouteTableId={}&DestinationCidrBlock=10.{}.{}.0/24&{}",
                pick(&mut rng, &gateway_tables),
                rng.next() % 4,
                rng.next() % 8,
                if rng.next().is_multiple_of(3) {
                    "Blackhole=true".to_owned()
                } else {
                    format!(
                        "TransitGatewayAttachmentId={}",
                        pick(&mut rng, &attachments)
                    )
                }
            ),
            // an interface endpoint: its interfaces are ports of their hosts, its names
            // items of its VPC
            // a gateway endpoint: its route in a table, its item for the edge, and the
            // VPC's header naming the edge
            30 if !tables.is_empty() && rng.next().is_multiple_of(2) => {
                let table = pick(&mut rng, &tables);
                let vpc = control
                    .read_world(|w| {
                        w.regions
                            .values()
                            .find_map(|r| r.route_tables.get(&table).map(|t| t.vpc_id.to_string()))
                    })
                    .await
                    .unwrap_or_default();
                format!(
                    "Action=CreateVpcEndpoint&ServiceName=com.amazonaws.us-east-1.s3&VpcId={vpc}&RouteTableId.1={table}"
                )
            }
            30 if !subnets.is_empty() => {
                let subnet = pick(&mut rng, &subnets);
                let vpc = control
                    .read_world(|w| {
                        w.regions
                            .values()
                            .find_map(|r| r.subnets.get(&subnet).map(|s| s.vpc_id.to_string()))
                    })
                    .await
                    .unwrap_or_default();
                format!(
                    "Action=CreateVpcEndpoint&VpcEndpointType=Interface&ServiceName=com.amazonaws.us-east-1.ec2&VpcId={vpc}&SubnetId.1={subnet}&PrivateDnsEnabled=false"
                )
            }
            31 if !endpoints.is_empty() => {
                let e = pick(&mut rng, &endpoints);
                match rng.next() % 4 {
                    0 => format!(
                        "Action=ModifyVpcEndpoint&VpcEndpointId={e}&AddSubnetId.1={}",
                        pick(&mut rng, &subnets)
                    ),
                    1 => format!(
                        "Action=ModifyVpcEndpoint&VpcEndpointId={e}&RemoveSubnetId.1={}",
                        pick(&mut rng, &subnets)
                    ),
                    2 => {
                        // private DNS needs the VPC's DNS hostnames
                        let vpc = control
                            .read_world(|w| {
                                w.regions.values().find_map(|r| {
                                    r.vpc_endpoints.get(&e).map(|x| x.vpc_id.to_string())
                                })
                            })
                            .await
                            .unwrap_or_default();
                        let _ = execute(
                            &control,
                            &scope,
                            &Params::from_form(
                                format!(
                                    "Action=ModifyVpcAttribute&VpcId={vpc}&EnableDnsHostnames.Value=true"
                                )
                                .as_bytes(),
                            )
                            .unwrap(),
                        )
                        .await;
                        format!("Action=ModifyVpcEndpoint&VpcEndpointId={e}&PrivateDnsEnabled=true")
                    }
                    _ => format!(
                        "Action=ModifyVpcEndpoint&VpcEndpointId={e}&PrivateDnsEnabled=false"
                    ),
                }
            }
            32 if !endpoints.is_empty() => format!(
                "Action=DeleteVpcEndpoints&VpcEndpointId.1={}",
                pick(&mut rng, &endpoints)
            ),
            // transit gateways peered with each other: the peering is an attachment of
            // both, associated and routed to (static routes) as the others are
            37 if gateways.len() < 2 => "Action=CreateTransitGateway".to_owned(),
            37 => match rng.next() % 6 {
                0 => {
                    let made = execute(
                        &control,
                        &scope,
                        &Params::from_form(
                            format!(
                                "Action=CreateTransitGatewayPeeringAttachment&TransitGatewayId={}&PeerTransitGatewayId={}&PeerAccountId={}&PeerRegion={}",
                                gateways[0], gateways[1], scope.account, scope.region
                            )
                            .as_bytes(),
                        )
                        .unwrap(),
                    )
                    .await;
                    // (one live peering per pair of gateways: a second request fails)
                    let peering = made
                        .ok()
                        .and_then(|x| find(x.as_str(), "tgw-attach-").into_iter().next())
                        .unwrap_or_else(|| "x".into());
                    if peering != "x" {
                        attachments.push(peering.clone());
                        peering_attachments.push(peering.clone());
                    }
                    format!(
                        "Action=AcceptTransitGatewayPeeringAttachment&TransitGatewayAttachmentId={peering}"
                    )
                }
                1 => format!(
                    "Action=DeleteTransitGatewayPeeringAttachment&TransitGatewayAttachmentId={}",
                    pick(&mut rng, &peering_attachments)
                ),
                2 | 3 => format!(
                    "Action={}TransitGatewayRouteTable&TransitGatewayRouteTableId={}&TransitGatewayAttachmentId={}",
                    if rng.next().is_multiple_of(4) {
                        "Disassociate"
                    } else {
                        "Associate"
                    },
                    pick(&mut rng, &gateway_tables),
                    pick(&mut rng, &peering_attachments)
                ),
                // (an IPv6 block now and then: IPv6 crosses a peering too)
                _ => format!(
                    "Action=CreateTransitGatewayRoute&TransitGatewayRouteTableId={}&DestinationCidrBlock={}&TransitGatewayAttachmentId={}",
                    pick(&mut rng, &gateway_tables),
                    if rng.next().is_multiple_of(3) {
                        format!("2001:db8:{}::/56", rng.next() % 4)
                    } else {
                        format!("10.{}.0.0/16", rng.next() % 4)
                    },
                    pick(&mut rng, &peering_attachments)
                ),
            },
            // a transit gateway, attached to VPCs and routed to: the routes are active
            // while the gateway has an attachment in their VPC
            23 if gateways.is_empty() => "Action=CreateTransitGateway".to_owned(),
            // (a subnet of the VPC: most of the time)
            23 => {
                let (subnet, vpc) = if subnet_vpcs.is_empty() || rng.next().is_multiple_of(4) {
                    (pick(&mut rng, &subnets), pick(&mut rng, &vpcs))
                } else {
                    rng.pick(&subnet_vpcs).clone()
                };
                // (with IPv6 support now and then: refused unless the VPC and subnet
                // have IPv6 blocks; its VPC's IPv6 blocks propagate)
                format!(
                    "Action=CreateTransitGatewayVpcAttachment&TransitGatewayId={}&VpcId={vpc}&SubnetIds.1={subnet}{}",
                    pick(&mut rng, &gateways),
                    if rng.next().is_multiple_of(3) {
                        "&Options.Ipv6Support=enable"
                    } else {
                        ""
                    }
                )
            }
            24 if !gateways.is_empty() => format!(
                "Action=CreateRoute&RouteTableId={}&DestinationCidrBlock=172.16.{}.0/24&TransitGatewayId={}",
                pick(&mut rng, &tables),
                rng.next() % 4,
                pick(&mut rng, &gateways)
            ),
            25 if !attachments.is_empty() => format!(
                "Action=DeleteTransitGatewayVpcAttachment&TransitGatewayAttachmentId={}",
                pick(&mut rng, &attachments)
            ),
            19 => format!(
                "Action=CreateManagedPrefixList&PrefixListName=p{step}&AddressFamily=IPv4&MaxEntries=4&Entry.1.Cidr={}",
                block(&mut rng)
            ),
            // a group's rule or a table's route naming a list
            20 if !lists.is_empty() => {
                let (pl, _) = rng.pick(&lists).clone();
                if rng.next().is_multiple_of(2) {
                    format!(
                        "Action=AuthorizeSecurityGroupIngress&GroupId={}&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=22&IpPermissions.1.ToPort=22&IpPermissions.1.PrefixListIds.1.PrefixListId={pl}",
                        pick(&mut rng, &groups)
                    )
                } else {
                    format!(
                        "Action=CreateRoute&RouteTableId={}&DestinationPrefixListId={pl}&InstanceId={}",
                        pick(&mut rng, &tables),
                        pick(&mut rng, &instances)
                    )
                }
            }
            // its entries change: every rule and route naming it follows
            21 | 22 if !lists.is_empty() => {
                let i = usize::try_from(rng.next()).expect("31 bits") % lists.len();
                modified = Some(i);
                let (pl, version) = &lists[i];
                let change = if rng.next().is_multiple_of(2) {
                    "AddEntry"
                } else {
                    "RemoveEntry"
                };
                format!(
                    "Action=ModifyManagedPrefixList&PrefixListId={pl}&CurrentVersion={version}&{change}.1.Cidr={}",
                    block(&mut rng)
                )
            }
            17 => format!(
                "Action=ModifyPrivateDnsNameOptions&InstanceId={}&EnableResourceNameDnsARecord={}",
                pick(&mut rng, &instances),
                rng.next().is_multiple_of(2)
            ),
            18 => format!(
                "Action=ModifySubnetAttribute&SubnetId={}&PrivateDnsHostnameTypeOnLaunch={}",
                pick(&mut rng, &subnets),
                if rng.next().is_multiple_of(2) {
                    "resource-name"
                } else {
                    "ip-name"
                }
            ),
            15 => {
                // A peering between two VPCs, requested then accepted: their hosts serve
                // each other's VPC.
                let (a, b) = (pick(&mut rng, &vpcs), pick(&mut rng, &vpcs));
                let made = execute(
                    &control,
                    &scope,
                    &Params::from_form(
                        format!("Action=CreateVpcPeeringConnection&VpcId={a}&PeerVpcId={b}")
                            .as_bytes(),
                    )
                    .unwrap(),
                )
                .await;
                let pcx = made
                    .ok()
                    .and_then(|x| find(x.as_str(), "pcx-").into_iter().next())
                    .unwrap_or_else(|| "x".into());
                peerings.push(pcx.clone());
                format!("Action=AcceptVpcPeeringConnection&VpcPeeringConnectionId={pcx}")
            }
            16 => format!(
                "Action=DeleteVpcPeeringConnection&VpcPeeringConnectionId={}",
                pick(&mut rng, &peerings)
            ),
            12 => {
                // An internet gateway for a VPC: the edge starts serving it.
                let igw = execute(
                    &control,
                    &scope,
                    &Params::from_form(b"Action=CreateInternetGateway").unwrap(),
                )
                .await
                .unwrap();
                let igw = find(igw.as_str(), "igw-").remove(0);
                format!(
                    "Action=AttachInternetGateway&InternetGatewayId={igw}&VpcId={}",
                    pick(&mut rng, &vpcs)
                )
            }
            13 => {
                // A new elastic IP, or one that moves to another instance in one call.
                let eip = if allocations.is_empty() || rng.next().is_multiple_of(2) {
                    let out = execute(
                        &control,
                        &scope,
                        &Params::from_form(b"Action=AllocateAddress").unwrap(),
                    )
                    .await
                    .unwrap();
                    let id = find(out.as_str(), "eipalloc-").remove(0);
                    allocations.push(id.clone());
                    id
                } else {
                    pick(&mut rng, &allocations)
                };
                format!(
                    "Action=AssociateAddress&AllocationId={eip}&InstanceId={}",
                    pick(&mut rng, &instances)
                )
            }
            // a NAT gateway deleted: its VPC is no egress for others any more
            14 if !nats.is_empty() && rng.next().is_multiple_of(4) => format!(
                "Action=DeleteNatGateway&NatGatewayId={}",
                pick(&mut rng, &nats)
            ),
            14 => {
                let eip = execute(
                    &control,
                    &scope,
                    &Params::from_form(b"Action=AllocateAddress").unwrap(),
                )
                .await
                .unwrap();
                let eip = find(eip.as_str(), "eipalloc-").remove(0);
                let mut subnet = pick(&mut rng, &subnets);
                // (often in a VPC attached to a transit gateway)
                if !attachments.is_empty() && rng.next().is_multiple_of(2) {
                    let att = pick(&mut rng, &attachments);
                    if let Some(s) = control
                        .read_world(|w| {
                            w.regions.values().find_map(|r| {
                                let v = &r.transit_gateway_vpc_attachments.get(&att)?.vpc_id;
                                r.subnets
                                    .values()
                                    .find(|s| s.vpc_id == *v && s.cidr.is_some())
                                    .map(|s| s.id.to_string())
                            })
                        })
                        .await
                    {
                        subnet = s;
                    }
                }
                // mostly in a VPC with an internet gateway (else it fails, as in AWS):
                // a VPC with a NAT gateway is an egress for those on its transit gateways
                if !rng.next().is_multiple_of(4) {
                    let vpc = control
                        .read_world(|w| {
                            w.regions
                                .values()
                                .find_map(|r| r.subnets.get(&subnet).map(|s| s.vpc_id.to_string()))
                        })
                        .await
                        .unwrap_or_default();
                    let igw = execute(
                        &control,
                        &scope,
                        &Params::from_form(b"Action=CreateInternetGateway").unwrap(),
                    )
                    .await
                    .unwrap();
                    let igw = find(igw.as_str(), "igw-").remove(0);
                    // (refused when the VPC has one already)
                    let _ = execute(
                        &control,
                        &scope,
                        &Params::from_form(
                            format!(
                                "Action=AttachInternetGateway&InternetGatewayId={igw}&VpcId={vpc}"
                            )
                            .as_bytes(),
                        )
                        .unwrap(),
                    )
                    .await;
                }
                format!("Action=CreateNatGateway&SubnetId={subnet}&AllocationId={eip}")
            }
            0 | 1 => format!("Action=CreateVpc&CidrBlock=10.{}.0.0/16", rng.next() % 4),
            2 | 3 => format!(
                "Action=CreateSubnet&VpcId={}&CidrBlock=10.{}.{}.0/24",
                pick(&mut rng, &vpcs),
                rng.next() % 4,
                rng.next() % 8
            ),
            4..=6 => format!(
                "Action=RunInstances&ImageId=ami-12345678&MinCount=1&MaxCount={}&SubnetId={}",
                1 + rng.next() % 3,
                pick(&mut rng, &subnets)
            ),
            7 => format!(
                "Action=TerminateInstances&InstanceId.1={}",
                pick(&mut rng, &instances)
            ),
            8 => format!(
                "Action=CreateSecurityGroup&GroupName=g{step}&GroupDescription=d&VpcId={}",
                pick(&mut rng, &vpcs)
            ),
            9 => format!(
                "Action=AuthorizeSecurityGroupIngress&GroupId={}&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort={}&IpPermissions.1.ToPort=80&IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0/8",
                pick(&mut rng, &groups),
                rng.next() % 80
            ),
            10 => format!("Action=CreateRouteTable&VpcId={}", pick(&mut rng, &vpcs)),
            _ => format!(
                "Action=AssociateRouteTable&RouteTableId={}&SubnetId={}",
                pick(&mut rng, &tables),
                pick(&mut rng, &subnets)
            ),
        };
        if let Ok(xml) = execute(
            &control,
            &scope,
            &Params::from_form(body.as_bytes()).unwrap(),
        )
        .await
        {
            let xml = xml.as_str().to_owned();
            if body.starts_with("Action=CreateVpc") {
                vpcs.extend(find(&xml, "vpc-").into_iter().take(1));
                groups.extend(find(&xml, "sg-"));
            }
            if body.starts_with("Action=CreateSubnet") {
                let subnet = find(&xml, "subnet-").remove(0);
                let vpc = body
                    .split("VpcId=")
                    .nth(1)
                    .and_then(|r| r.split('&').next());
                subnet_vpcs.push((subnet.clone(), vpc.unwrap_or("x").to_owned()));
                subnets.push(subnet);
            }
            if body.starts_with("Action=CreateSecurityGroup") {
                groups.extend(find(&xml, "sg-").into_iter().take(1));
            }
            if body.starts_with("Action=CreateRouteTable") {
                tables.extend(find(&xml, "rtb-").into_iter().take(1));
            }
            if body.starts_with("Action=CreateNatGateway") {
                nats.extend(find(&xml, "nat-").into_iter().take(1));
            }
            if body == "Action=CreateTransitGateway" {
                gateways.extend(find(&xml, "tgw-").into_iter().take(1));
            }
            if body.starts_with("Action=CreateTransitGatewayRouteTable") {
                gateway_tables.extend(find(&xml, "tgw-rtb-").into_iter().take(1));
            }
            if body.starts_with("Action=CreateTransitGatewayVpcAttachment") {
                attachments.extend(find(&xml, "tgw-attach-").into_iter().take(1));
            }
            if body.starts_with("Action=CreateManagedPrefixList") {
                lists.extend(find(&xml, "pl-").into_iter().take(1).map(|pl| (pl, 1)));
            }
            if let Some(i) = modified {
                lists[i].1 += 1;
            }
            if body.starts_with("Action=CreateVpnConnection&") {
                let vpn = find(&xml, "vpn-").into_iter().take(1).collect::<Vec<_>>();
                // a transit gateway's: its attachment is associated, propagated and
                // routed to as a VPC's is
                if let Some(v) = vpn.first()
                    && body.contains("&TransitGatewayId=")
                {
                    let out = execute(
                        &control,
                        &scope,
                        &Params::from_form(
                            format!(
                                "Action=DescribeTransitGatewayAttachments&Filter.1.Name=resource-id&Filter.1.Value.1={v}"
                            )
                            .as_bytes(),
                        )
                        .unwrap(),
                    )
                    .await
                    .unwrap();
                    attachments.extend(find(out.as_str(), "tgw-attach-").into_iter().take(1));
                }
                vpns.extend(vpn);
            }
            if body.starts_with("Action=CreateVpcEndpoint") {
                endpoints.extend(find(&xml, "vpce-").into_iter().take(1));
            }
            if body.contains("VpcEndpoint") {
                // Place each new endpoint interface on a host, as the control plane does
                // with the data plane on.
                let host = rng.pick(&HOSTS).0.to_owned();
                control
                    .write(&scope, |tx| {
                        let ids = tx
                            .region
                            .vpc_endpoints
                            .ids_where(|e| e.interfaces.iter().any(|i| i.host_id.is_none()));
                        for id in ids {
                            let e = tx.region.vpc_endpoints.get_mut(&id).expect("listed");
                            for i in &mut e.interfaces {
                                if i.host_id.is_none() {
                                    i.host_id = Some(host.clone());
                                }
                            }
                        }
                        Ok(())
                    })
                    .await
                    .unwrap();
            }
            if body.starts_with("Action=RunInstances") {
                // Place each new instance on a host of its zone, as the scheduler does.
                for id in find(&xml, "i-") {
                    if instances.contains(&id) {
                        continue;
                    }
                    instances.push(id.clone());
                    let host = rng.pick(&HOSTS).0.to_owned();
                    control
                        .write(&scope, |tx| {
                            tx.region.instances.get_mut(&id).expect("just made").host_id =
                                Some(host);
                            Ok(())
                        })
                        .await
                        .unwrap();
                }
            }
        }
        // Deliver every change made so far, in order, to every host.
        while let Ok(change) = changes.try_recv() {
            deliver(&mut programs, &mut caches, &*control.world().await, &change);
        }
        // (with chosen operations: after each, not only at the end, where a later change
        // could have mended what one left stale)
        if ops.is_some() && follower.is_none() {
            let fresh = control
                .read_world(|w| Programs::new(w, 100 + step as u64))
                .await;
            for (i, (h, _)) in HOSTS.iter().enumerate() {
                let want: BTreeMap<ItemKey, ItemValue> = fresh
                    .items_of(h)
                    .into_iter()
                    .map(|(k, v)| (k, ItemValue::clone(&v)))
                    .collect();
                assert!(
                    caches[i].items == want,
                    "host {h} differs from a fresh derivation after step {step} (seed {seed}): {body}"
                );
            }
        }
    }
    // On a shared store the changes come from the store's watch, a little after the
    // calls returned; the leader's memory holds its own changes at once, but announces
    // them (and moves its applied revision) only when the watch shows them. So: the
    // store's revision (a follower's read waits until its memory holds it), then the
    // leader's watch up to it, then every change announced up to there (announced
    // before the applied revision moves).
    if let Some(mut target) = control.applied_revision() {
        if let Some(f) = &follower {
            f.sync().await;
            target = target.max(f.applied_revision().unwrap_or(0));
        }
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while control.applied_revision().unwrap_or(0) < target {
            assert!(Instant::now() < deadline, "the watch delivers every change");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        while let Ok(change) = changes.try_recv() {
            deliver(&mut programs, &mut caches, &*control.world().await, &change);
        }
    }
    let world = control.world().await;
    let placed = world
        .regions
        .values()
        .flat_map(|r| r.instances.values())
        .filter(|i| i.state == fort_model::InstanceState::Running && i.host_id.is_some())
        .count()
        + world
            .regions
            .values()
            .flat_map(|r| r.vpc_endpoints.values())
            .filter(|e| e.is_live())
            .flat_map(|e| &e.interfaces)
            .filter(|i| i.host_id.is_some())
            .count();
    let ports: usize = caches
        .iter()
        .map(|c| {
            c.items
                .keys()
                .filter(|k| matches!(k.kind, Some(Kind::Port(_))))
                .count()
        })
        .sum();
    assert_eq!(
        placed, ports,
        "every running placed instance has its port on its host"
    );
    let fresh = Programs::new(&world, 8);
    // Differing keys only: the maps themselves are too long to print.
    type Held = BTreeMap<ItemKey, ItemValue>;
    let held = |items: fort_mapping::derive::Items| -> Held {
        items
            .into_iter()
            .map(|(k, v)| (k, ItemValue::clone(&v)))
            .collect()
    };
    let diff = |a: &Held, b: &Held| -> Vec<String> {
        let extra = a
            .keys()
            .filter(|k| b.get(*k) != a.get(*k))
            .map(|k| format!("+{k}"));
        let missing = b
            .keys()
            .filter(|k| !a.contains_key(*k))
            .map(|k| format!("-{k}"));
        extra.chain(missing).take(10).collect()
    };
    let joined: Vec<(String, String)> = fort_mapping::derive::all_rows(&world)
        .into_iter()
        .filter(|r| r.table == "transit-gateway-vpc-attachment")
        .flat_map(|r| {
            fort_mapping::derive::transit_links(&fort_mapping::derive::contribution(
                &world,
                &r,
                &mut Default::default(),
            ))
        })
        .collect();
    let d = diff(&caches[HOSTS.len()].items, &held(programs.items_of(EDGE)));
    assert!(
        d.is_empty(),
        "the edge: received items differ from the service's (seed {seed}): {d:?}"
    );
    let d = diff(&caches[HOSTS.len()].items, &held(fresh.items_of(EDGE)));
    assert!(
        d.is_empty(),
        "the edge: received items differ from a fresh derivation (seed {seed}): {d:?}"
    );
    for (i, (h, _)) in HOSTS.iter().enumerate() {
        let d = diff(&caches[i].items, &held(programs.items_of(h)));
        assert!(
            d.is_empty(),
            "host {h}: received items differ from the service's (seed {seed}): {d:?}"
        );
        let d = diff(&caches[i].items, &held(fresh.items_of(h)));
        assert!(
            d.is_empty(),
            "host {h}: received items differ from a fresh derivation (seed {seed}): {d:?}"
        );
        if let Some(f) = &follower {
            f.sync().await;
            let theirs = f.read_world(|w| Programs::new(w, 9)).await;
            let d = diff(&caches[i].items, &held(theirs.items_of(h)));
            assert!(
                d.is_empty(),
                "host {h}: received items differ from the follower's derivation (seed {seed}): {d:?}"
            );
        }
        let program = program_of(&caches[i].items);
        // Only what the host needs: the VPCs of its own ports, their active peers and
        // the VPCs transit gateways join them with.
        let mut port_vpcs: std::collections::BTreeSet<&str> =
            program.ports.iter().map(|p| p.vpc_id.as_str()).collect();
        let peers: Vec<&str> = port_vpcs
            .iter()
            .flat_map(|v| fort_mapping::derive::active_peerings(&world, v))
            .map(|(_, peer)| peer.vpc_id.as_str())
            .collect();
        // (and their gateway route tables' routes, which are no VPC's)
        let transit: Vec<&str> = joined
            .iter()
            .filter(|(a, b)| port_vpcs.contains(a.as_str()) && b.starts_with("vpc-"))
            .map(|(_, b)| b.as_str())
            .collect();
        port_vpcs.extend(peers);
        port_vpcs.extend(transit);
        let vpcs: std::collections::BTreeSet<&str> =
            program.vpcs.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(port_vpcs, vpcs, "host {h} holds VPCs it has no port in");
    }
}

/// The host program a host assembles from these items (every one must make sense).
fn program_of(items: &BTreeMap<ItemKey, ItemValue>) -> HostProgram {
    let mut state = HostState::default();
    let snapshot = ProgramUpdate {
        epoch: 1,
        base_generation: 0,
        generation: 1,
        snapshot: true,
        put: items
            .iter()
            .map(|(k, v)| Item {
                key: Some(k.clone()),
                value: Some(v.clone()),
            })
            .collect(),
        delete: Vec::new(),
    };
    let applied = state.apply(snapshot).unwrap().unwrap();
    assert_eq!(applied.malformed, [], "every item makes sense");
    state.structure(Underlay::default())
}

/// A running etcd, killed when dropped; its data directory goes with it.
struct Etcd(std::process::Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh single-member etcd (`/usr/bin/etcd` or `$FORT_ETCD`), or `None` without one.
async fn etcd() -> Option<(Etcd, String)> {
    let binary = std::env::var_os("FORT_ETCD")
        .map_or_else(|| "/usr/bin/etcd".into(), std::path::PathBuf::from);
    if !binary.exists() {
        eprintln!("skipping: no etcd at {}", binary.display());
        return None;
    }
    let (client, peer) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(&binary)
        .args(["--name", "t", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--listen-client-urls")
        .arg(format!("http://127.0.0.1:{client}"))
        .arg("--advertise-client-urls")
        .arg(format!("http://127.0.0.1:{client}"))
        .arg("--listen-peer-urls")
        .arg(format!("http://127.0.0.1:{peer}"))
        .arg("--initial-advertise-peer-urls")
        .arg(format!("http://127.0.0.1:{peer}"))
        .arg("--initial-cluster")
        .arg(format!("t=http://127.0.0.1:{peer}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("etcd://127.0.0.1:{client}");
    let etcd = Etcd(child, dir);
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while fort_store::EtcdStore::connect(&url).await.is_err() {
        assert!(Instant::now() < deadline, "etcd did not start");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Some((etcd, url))
}

/// The derivation property with the state in etcd and two servers on it: the leader
/// makes the changes (as a follower's writes are forwarded to it), the hosts' updates
/// come from its change stream, and the follower's memory, kept from the store's watch,
/// derives the same programs. A few seeds, each on a fresh etcd.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_equal_fresh_derivation_on_etcd_with_two_servers() {
    for seed in [1u64, 0x5eed, 0xdead_beef] {
        let Some((_etcd, url)) = etcd().await else {
            return;
        };
        let open = |id: &'static str| {
            let url = url.clone();
            async move {
                let store = Arc::new(fort_store::EtcdStore::connect(&url).await.unwrap());
                let me = fort_control::Member {
                    id: id.into(),
                    api: format!("http://{id}"),
                };
                Control::open_cluster(store, Config::default(), me)
                    .await
                    .unwrap()
            }
        };
        let leader = open("a").await;
        let deadline = Instant::now() + std::time::Duration::from_secs(15);
        while !leader.leads() {
            assert!(Instant::now() < deadline, "a leads");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let follower = open("b").await;
        add_hosts(&leader).await;
        run_on(leader, Some(follower), seed, 150).await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn updates_equal_fresh_derivation(seed in any::<u64>()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run(seed, 150));
    }

    /// ... with transit gateways peered, attached, associated, propagated and routed
    /// to at random.
    #[test]
    fn updates_equal_fresh_derivation_through_peered_gateways(seed in any::<u64>()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            run_ops(control_with_hosts().await, None, seed, 150, Some(&TRANSIT_OPS)).await;
        });
    }
}

/// An instance's resource name reaches every host serving its VPC, not only its own, and
/// follows ModifyPrivateDnsNameOptions; the DHCP host name of its port is its id.
#[tokio::test]
async fn resource_names_reach_every_host_of_the_vpc() {
    let control = control_with_hosts().await;
    let scope = scope();
    let call = |body: String| call(&control, &scope, body);
    let vpc = find(
        &call("Action=CreateVpc&CidrBlock=10.0.0.0/16".into()).await,
        "vpc-",
    )
    .remove(0);
    let subnet = find(
        &call(format!(
            "Action=CreateSubnet&VpcId={vpc}&CidrBlock=10.0.1.0/24&AvailabilityZone=us-east-1a"
        ))
        .await,
        "subnet-",
    )
    .remove(0);
    call(format!(
        "Action=ModifySubnetAttribute&SubnetId={subnet}&PrivateDnsHostnameTypeOnLaunch=resource-name"
    ))
    .await;
    let launch = |a_record: bool| {
        call(format!(
            "Action=RunInstances&ImageId=ami-12345678&MinCount=1&MaxCount=1&SubnetId={subnet}&PrivateDnsNameOptions.EnableResourceNameDnsARecord={a_record}"
        ))
    };
    let named = find(&launch(true).await, "i-").remove(0);
    let quiet = find(&launch(false).await, "i-").remove(0);
    for (id, host) in [(&named, "h1"), (&quiet, "h2")] {
        control
            .write(&scope, |tx| {
                tx.region.instances.get_mut(id).unwrap().host_id = Some(host.into());
                Ok(())
            })
            .await
            .unwrap();
    }
    let names = |programs: &Programs, host: &str| -> BTreeMap<String, (bool, String)> {
        programs
            .items_of(host)
            .into_iter()
            .filter_map(|(k, v)| match (k.kind, ItemValue::clone(&v).kind) {
                (
                    Some(Kind::InstanceName(o)),
                    Some(fort_proto::mapping::item_value::Kind::InstanceName(n)),
                ) => {
                    assert_eq!(o.vpc_id, vpc);
                    Some((
                        o.id,
                        (
                            n.a_record,
                            n.ip.map(std::net::Ipv4Addr::from)
                                .map(|ip| ip.to_string())
                                .unwrap_or_default(),
                        ),
                    ))
                }
                _ => None,
            })
            .collect()
    };
    let programs = control.read_world(|w| Programs::new(w, 1)).await;
    let on_h2 = names(&programs, "h2");
    assert_eq!(
        on_h2,
        names(&programs, "h1"),
        "every host of the VPC holds every name"
    );
    assert_eq!(on_h2.len(), 2);
    assert!(on_h2[&named].0 && !on_h2[&quiet].0);
    assert!(on_h2[&named].1.starts_with("10.0.1."));
    let hostnames: Vec<Option<String>> = programs
        .items_of("h1")
        .into_values()
        .filter_map(|v| match ItemValue::clone(&v).kind {
            Some(fort_proto::mapping::item_value::Kind::Port(p)) => Some(p.hostname),
            _ => None,
        })
        .collect();
    assert_eq!(hostnames, [Some(named.clone())], "DHCP names it by its id");
    // a change of its options is a change of its name's item
    call(format!(
        "Action=ModifyPrivateDnsNameOptions&InstanceId={quiet}&EnableResourceNameDnsARecord=true"
    ))
    .await;
    let programs = control.read_world(|w| Programs::new(w, 2)).await;
    assert!(names(&programs, "h1")[&quiet].0);
    // a terminated instance's name goes
    call(format!("Action=TerminateInstances&InstanceId.1={named}")).await;
    let programs = control.read_world(|w| Programs::new(w, 3)).await;
    assert!(!names(&programs, "h2").contains_key(&named));
}

/// A security group rule and a route naming a prefix list reach hosts as one rule and one
/// route per entry of its current version, a static route to the same block wins, and a
/// change of the list's entries changes them.
#[tokio::test]
async fn prefix_lists_reach_rules_and_routes() {
    let control = control_with_hosts().await;
    let scope = scope();
    let call = |body: String| call(&control, &scope, body);
    let vpc = find(
        &call("Action=CreateVpc&CidrBlock=10.0.0.0/16".into()).await,
        "vpc-",
    )
    .remove(0);
    let subnet = find(
        &call(format!(
            "Action=CreateSubnet&VpcId={vpc}&CidrBlock=10.0.1.0/24&AvailabilityZone=us-east-1a"
        ))
        .await,
        "subnet-",
    )
    .remove(0);
    let instance = find(
        &call(format!(
            "Action=RunInstances&ImageId=ami-12345678&MinCount=1&MaxCount=1&SubnetId={subnet}"
        ))
        .await,
        "i-",
    )
    .remove(0);
    control
        .write(&scope, |tx| {
            tx.region.instances.get_mut(&instance).unwrap().host_id = Some("h1".into());
            Ok(())
        })
        .await
        .unwrap();
    // the VPC's default group
    let group = find(
        &call(format!(
            "Action=DescribeSecurityGroups&Filter.1.Name=vpc-id&Filter.1.Value.1={vpc}"
        ))
        .await,
        "sg-",
    )
    .remove(0);
    let pl = find(
        &call("Action=CreateManagedPrefixList&PrefixListName=office&AddressFamily=IPv4&MaxEntries=3&Entry.1.Cidr=192.0.2.0/24&Entry.2.Cidr=198.51.100.0/24".into())
            .await,
        "pl-",
    )
    .remove(0);
    call(format!(
        "Action=AuthorizeSecurityGroupIngress&GroupId={group}&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=22&IpPermissions.1.ToPort=22&IpPermissions.1.PrefixListIds.1.PrefixListId={pl}"
    ))
    .await;
    let table = find(
        &call(format!("Action=CreateRouteTable&VpcId={vpc}")).await,
        "rtb-",
    )
    .remove(0);
    call(format!(
        "Action=CreateRoute&RouteTableId={table}&DestinationPrefixListId={pl}&InstanceId={instance}"
    ))
    .await;
    let igw = find(&call("Action=CreateInternetGateway".into()).await, "igw-").remove(0);
    call(format!(
        "Action=AttachInternetGateway&InternetGatewayId={igw}&VpcId={vpc}"
    ))
    .await;
    call(format!(
        "Action=CreateRoute&RouteTableId={table}&DestinationCidrBlock=198.51.100.0/24&GatewayId={igw}"
    ))
    .await;
    let (peers, routes) = seen(&control, 1, &group, &table).await;
    assert_eq!(peers.len(), 2, "{peers:?}");
    assert!(
        peers.iter().any(|p| p.contains("192.0.2.0/24")),
        "{peers:?}"
    );
    assert!(
        routes
            .iter()
            .any(|r| r.starts_with("192.0.2.0/24 NetworkInterface")),
        "{routes:?}"
    );
    assert!(
        routes
            .iter()
            .any(|r| r.starts_with("198.51.100.0/24 InternetGateway")),
        "the static route wins: {routes:?}"
    );
    assert_eq!(
        routes
            .iter()
            .filter(|r| r.starts_with("198.51.100.0/24"))
            .count(),
        1
    );
    call(format!(
        "Action=ModifyManagedPrefixList&PrefixListId={pl}&CurrentVersion=1&AddEntry.1.Cidr=203.0.113.0/24&RemoveEntry.1.Cidr=192.0.2.0/24"
    ))
    .await;
    let (peers, routes) = seen(&control, 2, &group, &table).await;
    assert!(
        peers.iter().any(|p| p.contains("203.0.113.0/24")),
        "{peers:?}"
    );
    assert!(
        !peers.iter().any(|p| p.contains("192.0.2.0/24")),
        "{peers:?}"
    );
    assert!(
        routes.iter().any(|r| r.starts_with("203.0.113.0/24 ")),
        "{routes:?}"
    );
    assert!(
        !routes.iter().any(|r| r.starts_with("192.0.2.0/24 ")),
        "{routes:?}"
    );
}

/// What host h1 holds of `group` and `table`: the group's SSH rules' peers, and the
/// table's routes (destination and target).
async fn seen(
    control: &Control,
    version: u64,
    group: &str,
    table: &str,
) -> (Vec<String>, Vec<String>) {
    let programs = control.read_world(|w| Programs::new(w, version)).await;
    let program = program_of(
        &programs
            .items_of("h1")
            .into_iter()
            .map(|(k, v)| (k, ItemValue::clone(&v)))
            .collect(),
    );
    let peers = program
        .vpcs
        .iter()
        .flat_map(|v| v.security_groups.iter())
        .filter(|g| g.id == group)
        .flat_map(|g| g.ingress.iter())
        .filter(|r| r.from_port == 22)
        .map(|r| format!("{:?}", r.peer))
        .collect();
    let routes = program
        .vpcs
        .iter()
        .flat_map(|v| v.route_tables.iter())
        .filter(|t| t.id == table)
        .flat_map(|t| t.routes.iter())
        .map(|r| format!("{} {:?}", r.destination, r.target))
        .collect();
    (peers, routes)
}

/// Three VPCs on one transit gateway, the "shared services" layout: the spokes' table
/// reaches the shared VPC, the shared VPC's reaches both spokes. The hosts of a spoke
/// serve the shared VPC and not the other spoke; the shared VPC's hosts serve both; a
/// propagation taken away takes the shared VPC from the spokes' hosts.
#[tokio::test]
async fn transit_gateways_join_the_vpcs_their_tables_route_to() {
    let control = control_with_hosts().await;
    let scope = scope();
    let call = |body: String| call(&control, &scope, body);
    let tgw = find(
        &call("Action=CreateTransitGateway&Options.DefaultRouteTableAssociation=disable&Options.DefaultRouteTablePropagation=disable".into()).await,
        "tgw-",
    )
    .remove(0);
    // (VPC, attachment) for shared (h1), spoke A (h2), spoke B (h3)
    let mut vpcs = Vec::new();
    for (i, (host, zone)) in HOSTS.iter().enumerate() {
        let vpc = find(
            &call(format!("Action=CreateVpc&CidrBlock=10.{i}.0.0/16")).await,
            "vpc-",
        )
        .remove(0);
        let subnet = find(
            &call(format!(
                "Action=CreateSubnet&VpcId={vpc}&CidrBlock=10.{i}.1.0/24&AvailabilityZone={zone}"
            ))
            .await,
            "subnet-",
        )
        .remove(0);
        let instance = find(
            &call(format!(
                "Action=RunInstances&ImageId=ami-12345678&MinCount=1&MaxCount=1&SubnetId={subnet}"
            ))
            .await,
            "i-",
        )
        .remove(0);
        control
            .write(&scope, |tx| {
                tx.region.instances.get_mut(&instance).unwrap().host_id = Some((*host).into());
                Ok(())
            })
            .await
            .unwrap();
        let attachment = find(
            &call(format!(
                "Action=CreateTransitGatewayVpcAttachment&TransitGatewayId={tgw}&VpcId={vpc}&SubnetIds.1={subnet}"
            ))
            .await,
            "tgw-attach-",
        )
        .remove(0);
        vpcs.push((vpc, attachment));
    }
    let table = |call_result: String| find(&call_result, "tgw-rtb-").remove(0);
    let spokes_table = table(
        call(format!(
            "Action=CreateTransitGatewayRouteTable&TransitGatewayId={tgw}"
        ))
        .await,
    );
    let shared_table = table(
        call(format!(
            "Action=CreateTransitGatewayRouteTable&TransitGatewayId={tgw}"
        ))
        .await,
    );
    let (shared, a, b) = (&vpcs[0], &vpcs[1], &vpcs[2]);
    for (t, att) in [
        (&shared_table, &shared.1),
        (&spokes_table, &a.1),
        (&spokes_table, &b.1),
    ] {
        call(format!(
            "Action=AssociateTransitGatewayRouteTable&TransitGatewayRouteTableId={t}&TransitGatewayAttachmentId={att}"
        ))
        .await;
    }
    for (t, att) in [
        (&spokes_table, &shared.1),
        (&shared_table, &a.1),
        (&shared_table, &b.1),
    ] {
        call(format!(
            "Action=EnableTransitGatewayRouteTablePropagation&TransitGatewayRouteTableId={t}&TransitGatewayAttachmentId={att}"
        ))
        .await;
    }
    let served = |programs: &Programs, host: &str| -> BTreeSet<String> {
        programs
            .items_of(host)
            .keys()
            .filter_map(|k| match &k.kind {
                Some(Kind::Vpc(v)) => Some(v.clone()),
                _ => None,
            })
            .collect()
    };
    let set = |xs: &[&String]| xs.iter().map(|x| (*x).clone()).collect::<BTreeSet<_>>();
    let programs = control.read_world(|w| Programs::new(w, 1)).await;
    assert_eq!(served(&programs, "h1"), set(&[&shared.0, &a.0, &b.0]));
    assert_eq!(served(&programs, "h2"), set(&[&a.0, &shared.0]));
    assert_eq!(served(&programs, "h3"), set(&[&b.0, &shared.0]));
    // spoke A's hosts hold its attachment with one route, to the shared VPC
    let program = program_of(
        &programs
            .items_of("h2")
            .into_iter()
            .map(|(k, v)| (k, ItemValue::clone(&v)))
            .collect(),
    );
    let spoke = program.vpcs.iter().find(|v| v.id == a.0).unwrap();
    let routes: Vec<String> = spoke
        .transit_gateway_attachments
        .iter()
        .flat_map(|x| &x.routes)
        .map(|r| format!("{} {:?}", r.destination, r.target))
        .collect();
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert!(routes[0].starts_with("10.0.0.0/16 Vpc"), "{routes:?}");
    // and the subnets carry their zones
    assert!(
        spoke
            .subnets
            .iter()
            .all(|s| s.availability_zone == "us-east-1a")
    );

    // the shared VPC stops propagating to the spokes' table
    call(format!(
        "Action=DisableTransitGatewayRouteTablePropagation&TransitGatewayRouteTableId={spokes_table}&TransitGatewayAttachmentId={}",
        shared.1
    ))
    .await;
    let programs = control.read_world(|w| Programs::new(w, 2)).await;
    // the shared table still routes to the spokes: joined both ways all the same
    assert_eq!(served(&programs, "h2"), set(&[&a.0, &shared.0]));
    call(format!(
        "Action=DisableTransitGatewayRouteTablePropagation&TransitGatewayRouteTableId={shared_table}&TransitGatewayAttachmentId={}",
        a.1
    ))
    .await;
    let programs = control.read_world(|w| Programs::new(w, 3)).await;
    assert_eq!(served(&programs, "h2"), set(&[&a.0]));
    assert_eq!(served(&programs, "h1"), set(&[&shared.0, &b.0]));
}

/// A VPN connection on a transit gateway: the edge holds its item in the VPC the
/// attachment's table routes to (its blocks those the table sends there, its gateway the
/// VPN attachment, everything routed out), and hosts of that VPC reach the attachment at
/// the edge through the gateway's route to it.
#[tokio::test]
async fn a_transit_gateway_vpn_connection_ends_at_the_edge_for_the_vpc_its_table_reaches() {
    use fort_proto::mapping::item_value::Kind as V;
    let control = control_with_hosts().await;
    let edge = add_edge(&control).await;
    let scope = scope();
    let call = |body: String| call(&control, &scope, body);
    let tgw = find(&call("Action=CreateTransitGateway".into()).await, "tgw-").remove(0);
    let (vpc, subnet) = vpc_with_instance_on_h1(&control, &scope).await;
    let vpc_attachment = find(
        &call(format!(
            "Action=CreateTransitGatewayVpcAttachment&TransitGatewayId={tgw}&VpcId={vpc}&SubnetIds.1={subnet}"
        ))
        .await,
        "tgw-attach-",
    )
    .remove(0);
    // a second VPC on the gateway, with no instance: the edge serves it too
    let other = find(
        &call("Action=CreateVpc&CidrBlock=10.8.0.0/16".into()).await,
        "vpc-",
    )
    .remove(0);
    let other_subnet = find(
        &call(format!(
            "Action=CreateSubnet&VpcId={other}&CidrBlock=10.8.1.0/24&AvailabilityZone=us-east-1a"
        ))
        .await,
        "subnet-",
    )
    .remove(0);
    let other_attachment = find(
        &call(format!(
            "Action=CreateTransitGatewayVpcAttachment&TransitGatewayId={tgw}&VpcId={other}&SubnetIds.1={other_subnet}"
        ))
        .await,
        "tgw-attach-",
    )
    .remove(0);
    let cgw = find(
        &call("Action=CreateCustomerGateway&Type=ipsec.1&BgpAsn=65000&IpAddress=192.0.2.10".into())
            .await,
        "cgw-",
    )
    .remove(0);
    let vpn = find(
        &call(format!(
            "Action=CreateVpnConnection&Type=ipsec.1&CustomerGatewayId={cgw}&TransitGatewayId={tgw}&Options.StaticRoutesOnly=true"
        ))
        .await,
        "vpn-",
    )
    .remove(0);
    let attachment = find(
        &call(format!(
            "Action=DescribeTransitGatewayAttachments&Filter.1.Name=resource-id&Filter.1.Value.1={vpn}"
        ))
        .await,
        "tgw-attach-",
    )
    .remove(0);
    let table = find(
        &call(format!(
            "Action=DescribeTransitGateways&TransitGatewayId.1={tgw}"
        ))
        .await,
        "tgw-rtb-",
    )
    .remove(0);
    call(format!(
        "Action=CreateTransitGatewayRoute&TransitGatewayRouteTableId={table}&DestinationCidrBlock=192.168.0.0/16&TransitGatewayAttachmentId={attachment}"
    ))
    .await;

    let programs = control.read_world(|w| Programs::new(w, 1)).await;
    let items = |host: &str| -> BTreeMap<ItemKey, ItemValue> {
        programs
            .items_of(host)
            .into_iter()
            .map(|(k, v)| (k, ItemValue::clone(&v)))
            .collect()
    };
    let [c] = items("e1")
        .into_values()
        .filter_map(|v| match v.kind {
            Some(V::VpnConnection(c)) => Some(c),
            _ => None,
        })
        .collect::<Vec<_>>()
        .try_into()
        .expect("one connection at the edge");
    assert_eq!(c.vpn_connection_id, vpn);
    assert_eq!(c.vpc_id, vpc);
    assert_eq!(c.vpn_gateway_id, attachment);
    let cidrs = |xs: &[fort_proto::mapping::Ipv4Cidr]| -> Vec<String> {
        xs.iter()
            .map(|x| {
                let a: std::net::Ipv4Addr = x.address.into();
                format!("{a}/{}", x.prefix_len)
            })
            .collect()
    };
    // the gateway's table sends both VPCs' blocks (propagated) there: BGP advertises them
    assert_eq!(cidrs(&c.cidrs), ["10.7.0.0/16", "10.8.0.0/16"]);
    assert_eq!(cidrs(&c.routes), ["0.0.0.0/0"]);
    // ... and each goes into its VPC by that VPC's attachment, which the edge serves
    let mut into: Vec<(String, String, Vec<String>)> = items("e1")
        .into_values()
        .filter_map(|v| match v.kind {
            Some(V::TransitGatewayVpnRoutes(r)) => {
                assert_eq!(r.vpn_connection_id, vpn);
                Some((
                    r.vpc_id,
                    r.transit_gateway_attachment_id,
                    cidrs(&r.destinations),
                ))
            }
            _ => None,
        })
        .collect();
    into.sort();
    let mut want = vec![
        (vpc.clone(), vpc_attachment, vec!["10.7.0.0/16".to_owned()]),
        (
            other.clone(),
            other_attachment,
            vec!["10.8.0.0/16".to_owned()],
        ),
    ];
    want.sort();
    assert_eq!(into, want);
    assert!(
        items("e1").keys().any(|k| *k == ItemKey::vpc(&other)),
        "the edge serves the second VPC"
    );
    // the VPC's hosts send what the table routes to the attachment to the edge
    let program = program_of(&items("h1"));
    let v = program.vpcs.iter().find(|v| v.id == vpc).unwrap();
    assert!(
        v.edges
            .iter()
            .any(|e| e.gateway_id == attachment && e.host == edge),
        "{:?}",
        v.edges
    );
    let routes: Vec<String> = v.transit_gateway_attachments[0]
        .routes
        .iter()
        .map(|r| format!("{} {:?}", r.destination, r.target))
        .collect();
    assert!(
        routes.contains(&format!("192.168.0.0/16 Unsupported({attachment:?})")),
        "{routes:?}"
    );
}

/// VPC 10.7.0.0/16 with subnet 10.7.1.0/24 and an instance in it placed on h1.
async fn vpc_with_instance_on_h1(control: &Control, scope: &Scope) -> (String, String) {
    let call = |body: String| call(control, scope, body);
    let vpc = find(
        &call("Action=CreateVpc&CidrBlock=10.7.0.0/16".into()).await,
        "vpc-",
    )
    .remove(0);
    let subnet = find(
        &call(format!(
            "Action=CreateSubnet&VpcId={vpc}&CidrBlock=10.7.1.0/24&AvailabilityZone=us-east-1a"
        ))
        .await,
        "subnet-",
    )
    .remove(0);
    let instance = find(
        &call(format!(
            "Action=RunInstances&ImageId=ami-12345678&MinCount=1&MaxCount=1&SubnetId={subnet}"
        ))
        .await,
        "i-",
    )
    .remove(0);
    control
        .write(scope, |tx| {
            tx.region.instances.get_mut(&instance).unwrap().host_id = Some("h1".into());
            Ok(())
        })
        .await
        .unwrap();
    (vpc, subnet)
}

/// The edge host's id.
const EDGE: &str = "e1";

/// Registers the edge host [`EDGE`] at 127.0.0.99.
async fn add_edge(control: &Control) -> std::net::Ipv4Addr {
    let edge: std::net::Ipv4Addr = "127.0.0.99".parse().unwrap();
    control
        .write_global(|g| {
            g.hosts.insert(Host {
                id: EDGE.into(),
                zone: "us-east-1a".into(),
                underlay: edge,
                role: fort_model::HostRole::Edge,
                instances: 0,
                available: true,
                server: String::new(),
            });
            Ok(())
        })
        .await
        .unwrap();
    edge
}

/// Detaching a virtual private gateway takes it from its VPC's edges: the VPC is
/// derived again though the detached gateway names it as attached no more.
#[tokio::test]
async fn a_detached_vpn_gateway_leaves_its_vpcs_edges() {
    let control = control_with_hosts().await;
    add_edge(&control).await;
    let scope = scope();
    let mut changes = control.subscribe();
    let mut programs = control.read_world(|w| Programs::new(w, 1)).await;
    let call = |body: String| call(&control, &scope, body);
    let (vpc, _) = vpc_with_instance_on_h1(&control, &scope).await;
    let vgw = find(
        &call("Action=CreateVpnGateway&Type=ipsec.1".into()).await,
        "vgw-",
    )
    .remove(0);
    call(format!(
        "Action=AttachVpnGateway&VpnGatewayId={vgw}&VpcId={vpc}"
    ))
    .await;
    macro_rules! deliver {
        ($programs:expr) => {
            while let Ok(change) = changes.try_recv() {
                let world = control.world().await;
                $programs.change(&world, change.seq, &change.keys, Instant::now());
            }
        };
    }
    let edges = |programs: &Programs| -> Vec<String> {
        let items = programs
            .items_of("h1")
            .into_iter()
            .map(|(k, v)| (k, ItemValue::clone(&v)))
            .collect();
        program_of(&items)
            .vpcs
            .iter()
            .filter(|v| v.id == vpc)
            .flat_map(|v| v.edges.iter().map(|e| e.gateway_id.clone()))
            .collect()
    };
    deliver!(programs);
    assert_eq!(edges(&programs), [vgw.as_str()]);
    call(format!(
        "Action=DetachVpnGateway&VpnGatewayId={vgw}&VpcId={vpc}"
    ))
    .await;
    deliver!(programs);
    let fresh = control.read_world(|w| Programs::new(w, 2)).await;
    assert_eq!(edges(&fresh), Vec::<String>::new());
    assert_eq!(
        edges(&programs),
        edges(&fresh),
        "the VPC still lists the gateway"
    );
}

/// One host's view for [`peered_transit_gateways_join_the_vpcs_routed_across_the_peering`]:
/// every change delivered as it is made, and the hosts each change reached.
struct Delivered {
    changes: tokio::sync::mpsc::UnboundedReceiver<fort_control::Change>,
    programs: Programs,
    caches: Vec<Cache>,
    touched: BTreeSet<String>,
}

impl Delivered {
    /// Every host of `HOSTS` connected, its cache holding what connecting sent it.
    async fn connected(control: &Control) -> Delivered {
        let changes = control.subscribe();
        let mut programs = control.read_world(|w| Programs::new(w, 7)).await;
        let mut caches: Vec<Cache> = HOSTS.iter().map(|_| Cache::default()).collect();
        for (i, (h, _)) in HOSTS.iter().enumerate() {
            for u in programs.connect(h, 0, 0, Instant::now()) {
                caches[i].apply(to_proto(&u)).unwrap();
            }
        }
        Delivered {
            changes,
            programs,
            caches,
            touched: BTreeSet::new(),
        }
    }

    async fn call(&mut self, control: &Control, scope: &Scope, body: String) -> String {
        let out = call(control, scope, body).await;
        let world = control.world().await;
        while let Ok(change) = self.changes.try_recv() {
            for (host, update) in
                self.programs
                    .change(&world, change.seq, &change.keys, Instant::now())
            {
                let i = HOSTS
                    .iter()
                    .position(|(h, _)| *h == host)
                    .expect("known host");
                self.caches[i].apply(to_proto(&update)).unwrap();
                self.touched.insert(host);
            }
        }
        out
    }

    /// Every host holds what a fresh derivation gives it.
    async fn check(&self, control: &Control, version: u64) {
        let fresh = control.read_world(|w| Programs::new(w, version)).await;
        for (i, (h, _)) in HOSTS.iter().enumerate() {
            let want: BTreeMap<ItemKey, ItemValue> = fresh
                .items_of(h)
                .into_iter()
                .map(|(k, v)| (k, ItemValue::clone(&v)))
                .collect();
            assert!(
                self.caches[i].items == want,
                "host {h} differs from a fresh derivation"
            );
        }
    }

    fn served(&self, host: usize) -> BTreeSet<String> {
        self.caches[host]
            .items
            .keys()
            .filter_map(|k| match &k.kind {
                Some(Kind::Vpc(v)) => Some(v.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Two transit gateways joined by a peering: A (h1) on tgw-1, B (h2) and C (h3) on
/// tgw-2. tgw-1's table sends 10.1/16 and 10.2/16 to the peering; tgw-2's table
/// associated with the peering sends 10.1/16 to B and 10.0/16 back across; C's table
/// nothing. The hosts of A and B serve each other and both tables; C's serve C alone.
/// Every change reaches the hosts incrementally as a fresh derivation has it, and taking
/// the peering route away touches A's and B's hosts only. tgw-2, B and C are in
/// `peer_region` (the same as tgw-1's or another).
/// With `v6`, every gateway route is to an IPv6 block instead (10.N.0.0/16 is
/// 2001:db8:N::/56): the peering joins the VPCs as well.
async fn peered_gateways(peer_region: &str, v6: bool) {
    let block = |b: &str| -> String {
        if !v6 {
            return b.to_owned();
        }
        let n = b.split('.').nth(1).unwrap();
        format!("2001:db8:{n}::/56")
    };
    let control = control_with_hosts().await;
    let scope = scope();
    let there = Scope {
        account: scope.account.clone(),
        region: peer_region.into(),
    };
    let mut d = Delivered::connected(&control).await;
    let no_defaults =
        "Options.DefaultRouteTableAssociation=disable&Options.DefaultRouteTablePropagation=disable";
    let mut tgws = Vec::new();
    for side in [&scope, &there] {
        let out = d
            .call(
                &control,
                side,
                format!("Action=CreateTransitGateway&{no_defaults}"),
            )
            .await;
        tgws.push(find(&out, "tgw-").remove(0));
    }
    // (VPC, attachment) for A (h1, tgw-1), B (h2, tgw-2), C (h3, tgw-2)
    let mut vpcs = Vec::new();
    for (i, (host, zone)) in HOSTS.iter().enumerate() {
        let tgw = &tgws[usize::from(i > 0)];
        let side = if i == 0 { &scope } else { &there };
        let zone = format!("{}{}", side.region, &zone[zone.len() - 1..]);
        let out = d
            .call(
                &control,
                side,
                format!("Action=CreateVpc&CidrBlock=10.{i}.0.0/16"),
            )
            .await;
        let vpc = find(&out, "vpc-").remove(0);
        let out = d
            .call(
                &control,
                side,
                format!(
                    "Action=CreateSubnet&VpcId={vpc}&CidrBlock=10.{i}.1.0/24&AvailabilityZone={zone}"
                ),
            )
            .await;
        let subnet = find(&out, "subnet-").remove(0);
        let out = d
            .call(
                &control,
                side,
                format!(
                    "Action=RunInstances&ImageId=ami-12345678&MinCount=1&MaxCount=1&SubnetId={subnet}"
                ),
            )
            .await;
        let instance = find(&out, "i-").remove(0);
        control
            .write(side, |tx| {
                tx.region.instances.get_mut(&instance).unwrap().host_id = Some((*host).into());
                Ok(())
            })
            .await
            .unwrap();
        let out = d
            .call(
                &control,
                side,
                format!(
                    "Action=CreateTransitGatewayVpcAttachment&TransitGatewayId={tgw}&VpcId={vpc}&SubnetIds.1={subnet}"
                ),
            )
            .await;
        vpcs.push((vpc, find(&out, "tgw-attach-").remove(0)));
    }
    let out = d
        .call(
            &control,
            &scope,
            format!(
                "Action=CreateTransitGatewayPeeringAttachment&TransitGatewayId={}&PeerTransitGatewayId={}&PeerAccountId={}&PeerRegion={}",
                tgws[0], tgws[1], there.account, there.region
            ),
        )
        .await;
    let peering = find(&out, "tgw-attach-").remove(0);
    d.call(
        &control,
        &there,
        format!(
            "Action=AcceptTransitGatewayPeeringAttachment&TransitGatewayAttachmentId={peering}"
        ),
    )
    .await;
    let table = async |side: &Scope, tgw: &str, d: &mut Delivered| {
        let out = d
            .call(
                &control,
                side,
                format!("Action=CreateTransitGatewayRouteTable&TransitGatewayId={tgw}"),
            )
            .await;
        find(&out, "tgw-rtb-").remove(0)
    };
    let t1 = table(&scope, &tgws[0], &mut d).await;
    let t2 = table(&there, &tgws[1], &mut d).await;
    let t3 = table(&there, &tgws[1], &mut d).await;
    let (a, b, c) = (vpcs[0].clone(), vpcs[1].clone(), vpcs[2].clone());
    for (side, t, att) in [
        (&scope, &t1, &a.1),
        (&scope, &t1, &peering),
        (&there, &t2, &b.1),
        (&there, &t2, &peering),
        (&there, &t3, &c.1),
    ] {
        d.call(
            &control,
            side,
            format!(
                "Action=AssociateTransitGatewayRouteTable&TransitGatewayRouteTableId={t}&TransitGatewayAttachmentId={att}"
            ),
        )
        .await;
        d.check(&control, 8).await;
    }
    let route = |t: &str, dst: &str, att: &str| {
        format!(
            "Action=CreateTransitGatewayRoute&TransitGatewayRouteTableId={t}&DestinationCidrBlock={}&TransitGatewayAttachmentId={att}",
            block(dst)
        )
    };
    // (tgw-2's way back first, so that tgw-1's route completes the path)
    for (side, body) in [
        (&there, route(&t2, "10.1.0.0/16", &b.1)),
        (&there, route(&t2, "10.0.0.0/16", &peering)),
        (&scope, route(&t1, "10.0.0.0/16", &a.1)),
        (&scope, route(&t1, "10.1.0.0/16", &peering)),
        (&scope, route(&t1, "10.2.0.0/16", &peering)),
    ] {
        d.call(&control, side, body).await;
        d.check(&control, 9).await;
    }
    let set = |xs: &[&String]| xs.iter().map(|x| (*x).clone()).collect::<BTreeSet<_>>();
    assert_eq!(d.served(0), set(&[&a.0, &b.0]));
    assert_eq!(d.served(1), set(&[&b.0, &a.0]));
    assert_eq!(d.served(2), set(&[&c.0]));
    // A's hosts walk both tables: 10.1/16 across the peering into B
    let program = program_of(&d.caches[0].items);
    let att = &program
        .vpcs
        .iter()
        .find(|v| v.id == a.0)
        .unwrap()
        .transit_gateway_attachments[0];
    assert_eq!(att.senders, vec![b.0.clone()]);
    let to_b = block("10.1.0.0/16");
    let across = att
        .routes
        .iter()
        .map(|r| (r.destination.to_string(), &r.target))
        .chain(
            att.routes_v6
                .iter()
                .map(|r| (r.destination.to_string(), &r.target)),
        )
        .find(|(d, _)| *d == to_b)
        .map(|(_, t)| t)
        .expect("a route to the peering");
    match across {
        fort_dataplane::program::TransitGatewayTarget::Peering {
            attachment_id,
            route_table_id,
            routes,
            routes_v6,
        } => {
            assert_eq!((attachment_id, route_table_id), (&peering, &t2));
            let into_b = routes
                .iter()
                .map(|r| (r.destination.to_string(), &r.target))
                .chain(
                    routes_v6
                        .iter()
                        .map(|r| (r.destination.to_string(), &r.target)),
                )
                .find(|(d, _)| *d == to_b)
                .expect("tgw-2's route to B");
            assert!(matches!(
                into_b.1,
                fort_dataplane::program::TransitGatewayTarget::Vpc { vpc_id, .. } if *vpc_id == b.0
            ));
        }
        other => panic!("not across the peering: {other:?}"),
    }

    // the peering route goes from tgw-1's table: A's and B's hosts are told, C's not
    d.touched.clear();
    d.call(
        &control,
        &scope,
        format!(
            "Action=DeleteTransitGatewayRoute&TransitGatewayRouteTableId={t1}&DestinationCidrBlock={}",
            block("10.1.0.0/16")
        ),
    )
    .await;
    assert_eq!(
        d.touched,
        ["h1".to_owned(), "h2".to_owned()].into_iter().collect()
    );
    d.check(&control, 10).await;

    // the peering goes: its routes turn blackhole, and the VPCs part
    d.touched.clear();
    d.call(
        &control,
        &scope,
        format!(
            "Action=DeleteTransitGatewayPeeringAttachment&TransitGatewayAttachmentId={peering}"
        ),
    )
    .await;
    assert!(!d.touched.contains("h3"), "{:?}", d.touched);
    d.check(&control, 11).await;
    assert_eq!(d.served(0), set(&[&a.0]));
    assert_eq!(d.served(1), set(&[&b.0]));
}

#[tokio::test]
async fn peered_transit_gateways_join_the_vpcs_routed_across_the_peering() {
    peered_gateways("us-east-1", false).await;
}

/// ... and so across regions.
#[tokio::test]
async fn transit_gateways_peered_across_regions_join_their_vpcs() {
    peered_gateways("eu-west-1", false).await;
}

/// ... and by IPv6 routes alone.
#[tokio::test]
async fn peered_transit_gateways_join_the_vpcs_routed_across_the_peering_by_ipv6() {
    peered_gateways("us-east-1", true).await;
}

/// Centralised egress: spokes A (h2) and B (h3) route 0.0.0.0/0 to the gateway, whose
/// spokes' table sends it to the attachment of the egress VPC (h1), which has a NAT
/// gateway and whose table reaches both spokes. The edge holds, in each spoke, what the
/// egress table sends there (so it serves the spokes, their mappings included); the
/// spokes' hosts hold the egress VPC, its NAT gateway naming its subnet. Without the NAT
/// gateway, the edge holds none of it and serves no spoke.
#[tokio::test]
async fn centralised_egress_gives_the_edge_the_way_back_into_each_spoke() {
    use fort_proto::mapping::item_value::Kind as V;
    let control = control_with_hosts().await;
    add_edge(&control).await;
    // every host and the edge follow the changes one by one: what they hold must equal
    // a fresh derivation after each step
    let mut changes = control.subscribe();
    let mut live = control.read_world(|w| Programs::new(w, 7)).await;
    let mut caches: Vec<Cache> = (0..=HOSTS.len()).map(|_| Cache::default()).collect();
    let names: Vec<&str> = HOSTS.iter().map(|(h, _)| *h).chain([EDGE]).collect();
    for (i, h) in names.iter().enumerate() {
        for u in live.connect(h, 0, 0, Instant::now()) {
            caches[i].apply(to_proto(&u)).unwrap();
        }
    }
    let mut step = 0;
    let mut follow = async |caches: &mut Vec<Cache>, live: &mut Programs| {
        while let Ok(change) = changes.try_recv() {
            deliver(live, caches, &*control.world().await, &change);
        }
        step += 1;
        let fresh = control.read_world(|w| Programs::new(w, 8)).await;
        for (i, h) in names.iter().enumerate() {
            let want: BTreeMap<ItemKey, ItemValue> = fresh
                .items_of(h)
                .into_iter()
                .map(|(k, v)| (k, ItemValue::clone(&v)))
                .collect();
            assert!(
                caches[i].items == want,
                "{h} after step {step}: incremental != fresh"
            );
        }
    };
    let scope = scope();
    let call = |body: String| call(&control, &scope, body);
    let tgw = find(
        &call("Action=CreateTransitGateway&Options.DefaultRouteTableAssociation=disable&Options.DefaultRouteTablePropagation=disable".into()).await,
        "tgw-",
    )
    .remove(0);
    // (VPC, attachment) for the egress VPC (h1), spoke A (h2), spoke B (h3)
    let mut vpcs = Vec::new();
    let mut first_subnet = String::new();
    for (i, (host, zone)) in HOSTS.iter().enumerate() {
        let vpc = find(
            &call(format!("Action=CreateVpc&CidrBlock=10.{i}.0.0/16")).await,
            "vpc-",
        )
        .remove(0);
        let subnet = find(
            &call(format!(
                "Action=CreateSubnet&VpcId={vpc}&CidrBlock=10.{i}.1.0/24&AvailabilityZone={zone}"
            ))
            .await,
            "subnet-",
        )
        .remove(0);
        if i == 0 {
            first_subnet = subnet.clone();
        }
        let instance = find(
            &call(format!(
                "Action=RunInstances&ImageId=ami-12345678&MinCount=1&MaxCount=1&SubnetId={subnet}"
            ))
            .await,
            "i-",
        )
        .remove(0);
        control
            .write(&scope, |tx| {
                tx.region.instances.get_mut(&instance).unwrap().host_id = Some((*host).into());
                Ok(())
            })
            .await
            .unwrap();
        let attachment = find(
            &call(format!(
                "Action=CreateTransitGatewayVpcAttachment&TransitGatewayId={tgw}&VpcId={vpc}&SubnetIds.1={subnet}"
            ))
            .await,
            "tgw-attach-",
        )
        .remove(0);
        vpcs.push((vpc, attachment));
    }
    let (egress, a, b) = (&vpcs[0], &vpcs[1], &vpcs[2]);
    // the egress VPC's NAT gateway, in a subnet of its own
    let public = find(
        &call(format!(
            "Action=CreateSubnet&VpcId={}&CidrBlock=10.0.2.0/24&AvailabilityZone=us-east-1a",
            egress.0
        ))
        .await,
        "subnet-",
    )
    .remove(0);
    assert_ne!(public, first_subnet);
    // (a public NAT gateway needs its VPC's internet gateway)
    let igw = find(&call("Action=CreateInternetGateway".into()).await, "igw-").remove(0);
    call(format!(
        "Action=AttachInternetGateway&InternetGatewayId={igw}&VpcId={}",
        egress.0
    ))
    .await;
    let eip = find(&call("Action=AllocateAddress".into()).await, "eipalloc-").remove(0);
    let nat = find(
        &call(format!(
            "Action=CreateNatGateway&SubnetId={public}&AllocationId={eip}"
        ))
        .await,
        "nat-",
    )
    .remove(0);
    let table = |xml: String| find(&xml, "tgw-rtb-").remove(0);
    let spokes_table = table(
        call(format!(
            "Action=CreateTransitGatewayRouteTable&TransitGatewayId={tgw}"
        ))
        .await,
    );
    let egress_table = table(
        call(format!(
            "Action=CreateTransitGatewayRouteTable&TransitGatewayId={tgw}"
        ))
        .await,
    );
    for (t, att) in [
        (&egress_table, &egress.1),
        (&spokes_table, &a.1),
        (&spokes_table, &b.1),
    ] {
        call(format!(
            "Action=AssociateTransitGatewayRouteTable&TransitGatewayRouteTableId={t}&TransitGatewayAttachmentId={att}"
        ))
        .await;
    }
    for att in [&a.1, &b.1] {
        call(format!(
            "Action=EnableTransitGatewayRouteTablePropagation&TransitGatewayRouteTableId={egress_table}&TransitGatewayAttachmentId={att}"
        ))
        .await;
    }
    call(format!(
        "Action=CreateTransitGatewayRoute&TransitGatewayRouteTableId={spokes_table}&DestinationCidrBlock=0.0.0.0/0&TransitGatewayAttachmentId={}",
        egress.1
    ))
    .await;
    call(format!(
        "Action=CreateTransitGatewayRoute&TransitGatewayRouteTableId={egress_table}&DestinationCidrBlock=10.2.9.0/24&Blackhole=true"
    ))
    .await;

    let served = |programs: &Programs, host: &str| -> BTreeSet<String> {
        programs
            .items_of(host)
            .keys()
            .filter_map(|k| match &k.kind {
                Some(Kind::Vpc(v)) => Some(v.clone()),
                _ => None,
            })
            .collect()
    };
    let egress_items = |programs: &Programs| -> Vec<(String, Vec<String>, Vec<String>)> {
        programs
            .items_of(EDGE)
            .values()
            .filter_map(|v| match &v.kind {
                Some(V::TransitGatewayEgressRoutes(r)) => {
                    assert_eq!(r.egress_vpc_id, egress.0);
                    assert_eq!(r.egress_attachment_id, egress.1);
                    let text = |cs: &[fort_proto::mapping::Ipv4Cidr]| {
                        cs.iter()
                            .map(|c| {
                                format!("{}/{}", std::net::Ipv4Addr::from(c.address), c.prefix_len)
                            })
                            .collect::<Vec<_>>()
                    };
                    Some((r.vpc_id.clone(), text(&r.destinations), text(&r.drops)))
                }
                _ => None,
            })
            .collect()
    };
    let set = |xs: &[&String]| xs.iter().map(|x| (*x).clone()).collect::<BTreeSet<_>>();
    follow(&mut caches, &mut live).await;
    let programs = control.read_world(|w| Programs::new(w, 1)).await;
    let mut items = egress_items(&programs);
    items.sort();
    let mut want = vec![
        (
            a.0.clone(),
            vec!["10.1.0.0/16".to_owned()],
            vec!["10.2.9.0/24".to_owned()],
        ),
        (
            b.0.clone(),
            vec!["10.2.0.0/16".to_owned()],
            vec!["10.2.9.0/24".to_owned()],
        ),
    ];
    want.sort();
    assert_eq!(items, want);
    // (the region's default VPC, with its internet gateway, too)
    assert!(served(&programs, EDGE).is_superset(&set(&[&egress.0, &a.0, &b.0])));
    // spoke A's hosts hold the egress VPC, its NAT gateway with its subnet
    let program = program_of(
        &programs
            .items_of("h2")
            .into_iter()
            .map(|(k, v)| (k, ItemValue::clone(&v)))
            .collect(),
    );
    let e = program.vpcs.iter().find(|v| v.id == egress.0).unwrap();
    let edge = e.edges.iter().find(|x| x.gateway_id == nat).unwrap();
    assert_eq!(edge.subnet_id.as_deref(), Some(public.as_str()));

    // B's propagation leaves the egress table and comes back; the blackhole goes
    for on in ["Disable", "Enable"] {
        call(format!(
            "Action={on}TransitGatewayRouteTablePropagation&TransitGatewayRouteTableId={egress_table}&TransitGatewayAttachmentId={}",
            b.1
        ))
        .await;
        follow(&mut caches, &mut live).await;
        let n = egress_items(&control.read_world(|w| Programs::new(w, 3)).await).len();
        assert_eq!(n, if on == "Enable" { 2 } else { 1 });
    }
    call(format!(
        "Action=DeleteTransitGatewayRoute&TransitGatewayRouteTableId={egress_table}&DestinationCidrBlock=10.2.9.0/24"
    ))
    .await;
    follow(&mut caches, &mut live).await;
    // the egress attachment leaves its table (nothing routes back) and comes back
    for (on, n) in [("Disassociate", 0), ("Associate", 2)] {
        call(format!(
            "Action={on}TransitGatewayRouteTable&TransitGatewayRouteTableId={egress_table}&TransitGatewayAttachmentId={}",
            egress.1
        ))
        .await;
        follow(&mut caches, &mut live).await;
        let items = egress_items(&control.read_world(|w| Programs::new(w, 4)).await);
        assert_eq!(items.len(), n, "{on}: {items:?}");
    }
    // the spokes' default route goes: what comes back is the egress table's still
    call(format!(
        "Action=DeleteTransitGatewayRoute&TransitGatewayRouteTableId={spokes_table}&DestinationCidrBlock=0.0.0.0/0"
    ))
    .await;
    follow(&mut caches, &mut live).await;

    // without the NAT gateway the egress VPC is no egress
    call(format!("Action=DeleteNatGateway&NatGatewayId={nat}")).await;
    follow(&mut caches, &mut live).await;
    let programs = control.read_world(|w| Programs::new(w, 2)).await;
    assert!(egress_items(&programs).is_empty());
    let edge = served(&programs, EDGE);
    assert!(edge.contains(&egress.0) && !edge.contains(&a.0) && !edge.contains(&b.0));
}

/// IPv6 through a transit gateway: two dual-stack VPCs attached with IPv6 support to a
/// gateway with its default table; each one's hosts hold its attachment with the IPv6
/// route to the other's block.
#[tokio::test]
async fn ipv6_blocks_propagate_to_the_hosts_of_attached_vpcs() {
    let control = control_with_hosts().await;
    let scope = scope();
    let call = |body: String| call(&control, &scope, body);
    let tgw = find(&call("Action=CreateTransitGateway".into()).await, "tgw-").remove(0);
    let mut vpcs = Vec::new();
    for (i, (host, zone)) in HOSTS.iter().enumerate().take(2) {
        let vpc = find(
            &call(format!(
                "Action=CreateVpc&CidrBlock=10.{i}.0.0/16&AmazonProvidedIpv6CidrBlock=true"
            ))
            .await,
            "vpc-",
        )
        .remove(0);
        let block: ipnet::Ipv6Net = control
            .read_world(|w| {
                w.regions
                    .values()
                    .find_map(|r| r.vpcs.get(&vpc)?.ipv6_cidrs().next())
            })
            .await
            .expect("an IPv6 block");
        let sub6 = block.subnets(64).unwrap().nth(1).unwrap();
        let subnet = find(
            &call(format!(
                "Action=CreateSubnet&VpcId={vpc}&CidrBlock=10.{i}.1.0/24&Ipv6CidrBlock={sub6}&AvailabilityZone={zone}"
            ))
            .await,
            "subnet-",
        )
        .remove(0);
        let instance = find(
            &call(format!(
                "Action=RunInstances&ImageId=ami-12345678&MinCount=1&MaxCount=1&SubnetId={subnet}"
            ))
            .await,
            "i-",
        )
        .remove(0);
        control
            .write(&scope, |tx| {
                tx.region.instances.get_mut(&instance).unwrap().host_id = Some((*host).into());
                Ok(())
            })
            .await
            .unwrap();
        call(format!(
            "Action=CreateTransitGatewayVpcAttachment&TransitGatewayId={tgw}&VpcId={vpc}&SubnetIds.1={subnet}&Options.Ipv6Support=enable"
        ))
        .await;
        vpcs.push((vpc, block));
    }
    let programs = control.read_world(|w| Programs::new(w, 1)).await;
    for (i, h) in ["h1", "h2"].iter().enumerate() {
        let program = program_of(
            &programs
                .items_of(h)
                .into_iter()
                .map(|(k, v)| (k, ItemValue::clone(&v)))
                .collect(),
        );
        let own = program.vpcs.iter().find(|v| v.id == vpcs[i].0).unwrap();
        let other = &vpcs[1 - i];
        let routes: Vec<String> = own
            .transit_gateway_attachments
            .iter()
            .flat_map(|a| &a.routes_v6)
            .map(|r| format!("{} {:?}", r.destination, r.target))
            .collect();
        assert!(
            routes
                .iter()
                .any(|r| r.starts_with(&format!("{} Vpc", other.1)) && r.contains(&other.0)),
            "{h}: {routes:?}"
        );
    }
}

/// Centralised inspection: spokes A (h1) and B (no instance) send 0.0.0.0/0 to the
/// inspection VPC I (its appliance on h2, source/dest check off, attachment in
/// appliance mode); I's attachment subnet routes 0.0.0.0/0 to the appliance's ENI and
/// the appliance's subnet 10.0.0.0/8 back to the gateway, whose table associated with
/// I reaches both spokes. C (h3) is on the same gateway in a table of its own. A's hosts
/// hold I with its route to the ENI and the ENI's mapping; every change reaches the
/// hosts as a fresh derivation has it, and changing I's route to the appliance or the
/// appliance's check touches A's and I's hosts, never C's.
#[tokio::test]
async fn an_inspection_vpcs_appliance_reaches_the_hosts_of_the_spokes_it_serves() {
    let control = control_with_hosts().await;
    let scope = scope();
    let mut d = Delivered::connected(&control).await;
    let out = d
        .call(
            &control,
            &scope,
            "Action=CreateTransitGateway&Options.DefaultRouteTableAssociation=disable&Options.DefaultRouteTablePropagation=disable".into(),
        )
        .await;
    let tgw = find(&out, "tgw-").remove(0);
    // (VPC, first subnet, attachment, ENI) of A (h1), I (h2), B (none), C (h3)
    let mut vpcs = Vec::new();
    for (i, host) in [Some("h1"), Some("h2"), None, Some("h3")]
        .into_iter()
        .enumerate()
    {
        let out = d
            .call(
                &control,
                &scope,
                format!("Action=CreateVpc&CidrBlock=10.{i}.0.0/16"),
            )
            .await;
        let vpc = find(&out, "vpc-").remove(0);
        let out = d
            .call(
                &control,
                &scope,
                format!(
                    "Action=CreateSubnet&VpcId={vpc}&CidrBlock=10.{i}.200.0/24&AvailabilityZone=us-east-1a"
                ),
            )
            .await;
        let subnet = find(&out, "subnet-").remove(0);
        let mut eni = String::new();
        if let Some(host) = host {
            // the instance (I's: the appliance) in a subnet of its own
            let out = d
                .call(
                    &control,
                    &scope,
                    format!(
                        "Action=CreateSubnet&VpcId={vpc}&CidrBlock=10.{i}.1.0/24&AvailabilityZone=us-east-1a"
                    ),
                )
                .await;
            let own = find(&out, "subnet-").remove(0);
            let out = d
                .call(
                    &control,
                    &scope,
                    format!(
                        "Action=RunInstances&ImageId=ami-12345678&MinCount=1&MaxCount=1&SubnetId={own}"
                    ),
                )
                .await;
            let instance = find(&out, "i-").remove(0);
            eni = find(&out, "eni-").remove(0);
            control
                .write(&scope, |tx| {
                    tx.region.instances.get_mut(&instance).unwrap().host_id = Some(host.into());
                    Ok(())
                })
                .await
                .unwrap();
        }
        let appliance = if i == 1 {
            "&Options.ApplianceModeSupport=enable"
        } else {
            ""
        };
        let out = d
            .call(
                &control,
                &scope,
                format!(
                    "Action=CreateTransitGatewayVpcAttachment&TransitGatewayId={tgw}&VpcId={vpc}&SubnetIds.1={subnet}{appliance}"
                ),
            )
            .await;
        let attachment = find(&out, "tgw-attach-").remove(0);
        vpcs.push((vpc, subnet, attachment, eni));
    }
    let (a, i, b, c) = (&vpcs[0], &vpcs[1], &vpcs[2], &vpcs[3]);
    let mut tables = Vec::new();
    for _ in 0..3 {
        let out = d
            .call(
                &control,
                &scope,
                format!("Action=CreateTransitGatewayRouteTable&TransitGatewayId={tgw}"),
            )
            .await;
        tables.push(find(&out, "tgw-rtb-").remove(0));
    }
    let (spokes, inspection, own) = (&tables[0], &tables[1], &tables[2]);
    for (t, att) in [
        (spokes, &a.2),
        (spokes, &b.2),
        (inspection, &i.2),
        (own, &c.2),
    ] {
        d.call(
            &control,
            &scope,
            format!(
                "Action=AssociateTransitGatewayRouteTable&TransitGatewayRouteTableId={t}&TransitGatewayAttachmentId={att}"
            ),
        )
        .await;
    }
    for att in [&a.2, &b.2] {
        d.call(
            &control,
            &scope,
            format!(
                "Action=EnableTransitGatewayRouteTablePropagation&TransitGatewayRouteTableId={inspection}&TransitGatewayAttachmentId={att}"
            ),
        )
        .await;
    }
    d.call(
        &control,
        &scope,
        format!(
            "Action=CreateTransitGatewayRoute&TransitGatewayRouteTableId={spokes}&DestinationCidrBlock=0.0.0.0/0&TransitGatewayAttachmentId={}",
            i.2
        ),
    )
    .await;
    // I: the attachment subnet's table to the appliance, the appliance's back to tgw
    d.call(
        &control,
        &scope,
        format!(
            "Action=ModifyNetworkInterfaceAttribute&NetworkInterfaceId={}&SourceDestCheck.Value=false",
            i.3
        ),
    )
    .await;
    let out = d
        .call(
            &control,
            &scope,
            format!("Action=CreateRouteTable&VpcId={}", i.0),
        )
        .await;
    let rt = find(&out, "rtb-").remove(0);
    d.call(
        &control,
        &scope,
        format!(
            "Action=AssociateRouteTable&RouteTableId={rt}&SubnetId={}",
            i.1
        ),
    )
    .await;
    let to_appliance = format!(
        "RouteTableId={rt}&DestinationCidrBlock=0.0.0.0/0&NetworkInterfaceId={}",
        i.3
    );
    d.call(
        &control,
        &scope,
        format!("Action=CreateRoute&{to_appliance}"),
    )
    .await;
    let out = d
        .call(
            &control,
            &scope,
            format!(
                "Action=DescribeRouteTables&Filter.1.Name=vpc-id&Filter.1.Value.1={}&Filter.2.Name=association.main&Filter.2.Value.1=true",
                i.0
            ),
        )
        .await;
    let main = find(&out, "rtb-").remove(0);
    d.call(
        &control,
        &scope,
        format!(
            "Action=CreateRoute&RouteTableId={main}&DestinationCidrBlock=10.0.0.0/8&TransitGatewayId={tgw}"
        ),
    )
    .await;
    d.check(&control, 8).await;

    // A's host: I, its attachment subnet's route to the appliance, the appliance
    let set = |xs: &[&String]| xs.iter().map(|x| (*x).clone()).collect::<BTreeSet<_>>();
    assert_eq!(d.served(0), set(&[&a.0, &i.0]));
    assert_eq!(d.served(1), set(&[&i.0, &a.0, &b.0]));
    assert_eq!(d.served(2), set(&[&c.0]));
    let program = program_of(&d.caches[0].items);
    let iv = program.vpcs.iter().find(|v| v.id == i.0).unwrap();
    let table = iv.route_tables.iter().find(|t| t.id == rt).unwrap();
    assert!(
        table
            .routes
            .iter()
            .any(|r| r.destination.to_string() == "0.0.0.0/0"
                && r.target == fort_dataplane::program::RouteTarget::NetworkInterface(i.3.clone()))
    );
    assert!(iv.transit_gateway_attachments[0].appliance_mode);
    // the appliance's V2P entry, its check off, on A's and B's hosts (B has none)
    let appliance = |host: usize| {
        d.caches[host].items.values().find_map(|v| match &v.kind {
            Some(fort_proto::mapping::item_value::Kind::Mapping(m)) if m.eni_id == i.3 => {
                Some(m.source_dest_check)
            }
            _ => None,
        })
    };
    assert_eq!(appliance(0), Some(false));
    assert_eq!(appliance(1), Some(false));
    assert_eq!(appliance(2), None);

    // the route to the appliance goes and comes back; the appliance's check goes on:
    // A's and I's hosts are told, C's not
    for body in [
        format!("Action=DeleteRoute&RouteTableId={rt}&DestinationCidrBlock=0.0.0.0/0"),
        format!("Action=CreateRoute&{to_appliance}"),
        format!(
            "Action=ModifyNetworkInterfaceAttribute&NetworkInterfaceId={}&SourceDestCheck.Value=true",
            i.3
        ),
    ] {
        d.touched.clear();
        d.call(&control, &scope, body.clone()).await;
        assert_eq!(
            d.touched,
            ["h1".to_owned(), "h2".to_owned()].into_iter().collect(),
            "{body}"
        );
        d.check(&control, 9).await;
    }
}
