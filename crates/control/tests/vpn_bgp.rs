//! BGP on a dynamic VPN connection, as the edge reports it: each tunnel's accepted
//! routes (AcceptedRouteCount), the connection's learned routes (those of the tunnels
//! that are up) propagated into the tables that propagate its gateway, losing to a
//! table's static route; a static connection's reports learn nothing.

use std::net::Ipv4Addr;
use std::sync::Arc;

use fort_control::vpc::CreateVpc;
use fort_control::vpn::CreateCustomerGateway;
use fort_control::vpn_connection::CreateVpnConnection;
use fort_control::{Config, Control, Scope};
use fort_model::{RouteOrigin, TelemetryStatus};
use fort_store::EmbeddedStore;
use ipnet::Ipv4Net;

fn scope() -> Scope {
    Scope {
        account: "123456789012".into(),
        region: "us-east-1".into(),
    }
}

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

struct Setup {
    table: String,
    vpn: String,
    outside: [Ipv4Addr; 2],
}

async fn setup(control: &Control, static_routes_only: bool) -> Setup {
    control
        .write(&scope(), |tx| {
            let vpc = tx.create_vpc(CreateVpc {
                cidr_block: "10.0.0.0/16".into(),
                ..Default::default()
            })?;
            let vgw = tx.create_vpn_gateway(Some("ipsec.1"), Some(64512), Default::default())?;
            tx.attach_vpn_gateway(vgw.id.as_str(), vpc.id.as_str())?;
            let cgw = tx.create_customer_gateway(CreateCustomerGateway {
                kind: Some("ipsec.1".into()),
                bgp_asn: Some(65000),
                ip_address: Some("192.0.2.200".into()),
                ..Default::default()
            })?;
            let c = tx.create_vpn_connection(CreateVpnConnection {
                kind: Some("ipsec.1".into()),
                customer_gateway_id: Some(cgw.id.to_string()),
                vpn_gateway_id: Some(vgw.id.to_string()),
                static_routes_only: Some(static_routes_only),
                ..Default::default()
            })?;
            let table = tx
                .region
                .route_tables
                .values()
                .find(|t| t.vpc_id == vpc.id)
                .expect("the main table")
                .id
                .to_string();
            tx.set_vgw_route_propagation(&table, vgw.id.as_str(), true)?;
            Ok(Setup {
                table,
                vpn: c.id.to_string(),
                outside: [c.tunnels[0].outside_ip, c.tunnels[1].outside_ip],
            })
        })
        .await
        .unwrap()
}

async fn report(control: &Control, s: &Setup, n: usize, up: bool, learned: &[&str]) {
    let learned: Vec<Ipv4Net> = learned.iter().map(|l| net(l)).collect();
    control
        .write(&scope(), |tx| {
            tx.set_vpn_tunnel_status(&s.vpn, s.outside[n], up, "", &learned)
        })
        .await
        .unwrap();
}

/// The table's propagated destinations, and each tunnel's (status, accepted count).
async fn look(control: &Control, s: &Setup) -> (Vec<Ipv4Net>, Vec<(TelemetryStatus, u32)>) {
    control
        .read(&scope(), |v| {
            let t = v.region.route_tables.get(s.table.as_str()).unwrap();
            let routes = v
                .region
                .effective_routes(t)
                .into_iter()
                .filter(|r| r.origin == RouteOrigin::EnableVgwRoutePropagation)
                .filter_map(|r| match r.destination {
                    fort_model::RouteDestination::Cidr(n) => Some(n),
                    _ => None,
                })
                .collect();
            let c = v.region.vpn_connections.get(s.vpn.as_str()).unwrap();
            let tunnels = c
                .tunnels
                .iter()
                .map(|t| (t.status, t.accepted_route_count))
                .collect();
            (routes, tunnels)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn learned_routes_propagate_while_a_session_holds_them() {
    let store = Arc::new(EmbeddedStore::in_memory().unwrap());
    let control = Control::open(store, Config::default()).await.unwrap();
    let s = setup(&control, false).await;
    use TelemetryStatus::{Down, Up};
    assert_eq!(
        look(&control, &s).await,
        (vec![], vec![(Down, 0), (Down, 0)])
    );

    report(&control, &s, 0, true, &["192.168.0.0/16", "172.16.1.0/24"]).await;
    report(&control, &s, 1, true, &["192.168.0.0/16"]).await;
    assert_eq!(
        look(&control, &s).await,
        (
            vec![net("172.16.1.0/24"), net("192.168.0.0/16")],
            vec![(Up, 2), (Up, 1)]
        )
    );
    // tunnel 1 goes down: what tunnel 2 holds stays
    report(&control, &s, 0, false, &["192.168.0.0/16", "172.16.1.0/24"]).await;
    assert_eq!(
        look(&control, &s).await,
        (vec![net("192.168.0.0/16")], vec![(Down, 0), (Up, 1)])
    );
    // the prefix is withdrawn
    report(&control, &s, 1, true, &[]).await;
    assert_eq!(look(&control, &s).await, (vec![], vec![(Down, 0), (Up, 0)]));
}

#[tokio::test]
async fn a_static_connection_learns_nothing_from_reports() {
    let store = Arc::new(EmbeddedStore::in_memory().unwrap());
    let control = Control::open(store, Config::default()).await.unwrap();
    let s = setup(&control, true).await;
    report(&control, &s, 0, true, &["192.168.0.0/16"]).await;
    let (routes, tunnels) = look(&control, &s).await;
    assert!(routes.is_empty());
    assert_eq!(tunnels[0], (TelemetryStatus::Up, 0));
}
