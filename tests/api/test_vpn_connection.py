"""Site-to-Site VPN connections: two tunnels with outside addresses from the public pool,
inside /30s of 169.254.0.0/16 and pre-shared keys, checked as AWS documents its tunnel
options; static routes, propagation into route tables, the customer gateway configuration
document in AWS's generic format."""

import ipaddress
import re
import xml.etree.ElementTree as ET

import pytest

from conftest import error_code

RESERVED = ["169.254.0.0/30", "169.254.1.0/30", "169.254.2.0/30", "169.254.3.0/30",
            "169.254.4.0/30", "169.254.5.0/30", "169.254.169.252/30"]


@pytest.fixture
def gateways(ec2, vpc):
    """A virtual private gateway attached to a fresh VPC, and a customer gateway."""
    vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    ec2.attach_vpn_gateway(VpnGatewayId=vgw, VpcId=vpc["VpcId"])
    cgw = ec2.create_customer_gateway(Type="ipsec.1", IpAddress="203.0.113.50", BgpAsn=65010)["CustomerGateway"]["CustomerGatewayId"]
    yield vgw, cgw
    for c in ec2.describe_vpn_connections(Filters=[{"Name": "vpn-gateway-id", "Values": [vgw]}])["VpnConnections"]:
        if c["State"] != "deleted":
            ec2.delete_vpn_connection(VpnConnectionId=c["VpnConnectionId"])
    ec2.detach_vpn_gateway(VpnGatewayId=vgw, VpcId=vpc["VpcId"])
    ec2.delete_vpn_gateway(VpnGatewayId=vgw)
    ec2.delete_customer_gateway(CustomerGatewayId=cgw)


def tunnels_of(document):
    """(outside, vgw inside, cgw inside, key, bgp asns) per tunnel of the generic XML."""
    root = ET.fromstring(document)
    out = []
    for t in root.findall("ipsec_tunnel"):
        out.append({
            "outside": t.findtext("vpn_gateway/tunnel_outside_address/ip_address"),
            "cgw_outside": t.findtext("customer_gateway/tunnel_outside_address/ip_address"),
            "vgw_inside": t.findtext("vpn_gateway/tunnel_inside_address/ip_address"),
            "cgw_inside": t.findtext("customer_gateway/tunnel_inside_address/ip_address"),
            "mask": t.findtext("vpn_gateway/tunnel_inside_address/network_mask"),
            "key": t.findtext("ike/pre_shared_key"),
            "vgw_asn": t.findtext("vpn_gateway/bgp/asn"),
            "cgw_asn": t.findtext("customer_gateway/bgp/asn"),
            "ike_enc": t.findtext("ike/encryption_protocol"),
            "ike_lifetime": t.findtext("ike/lifetime"),
            "esp_auth": t.findtext("ipsec/authentication_protocol"),
            "pfs": t.findtext("ipsec/perfect_forward_secrecy"),
            "dpd_delay": t.findtext("ipsec/dead_peer_detection/delay"),
        })
    return root, out


def test_static_connection_lifecycle(ec2, vpc, gateways):
    vgw, cgw = gateways
    c = ec2.create_vpn_connection(
        Type="ipsec.1", CustomerGatewayId=cgw, VpnGatewayId=vgw, Options={"StaticRoutesOnly": True},
        TagSpecifications=[{"ResourceType": "vpn-connection", "Tags": [{"Key": "Name", "Value": "office"}]}],
    )["VpnConnection"]
    cid = c["VpnConnectionId"]
    assert re.fullmatch(r"vpn-[0-9a-f]{17}", cid)
    assert c["State"] == "pending" and c["Type"] == "ipsec.1" and c["Category"] == "VPN"
    assert c["VpnGatewayId"] == vgw and c["CustomerGatewayId"] == cgw
    assert c["Tags"] == [{"Key": "Name", "Value": "office"}]
    o = c["Options"]
    assert o["StaticRoutesOnly"] is True and o["TunnelInsideIpVersion"] == "ipv4"
    assert o["LocalIpv4NetworkCidr"] == "0.0.0.0/0" and o["RemoteIpv4NetworkCidr"] == "0.0.0.0/0"
    t1, t2 = o["TunnelOptions"]
    pool = ipaddress.ip_network("198.51.100.0/24")
    for t in (t1, t2):
        assert ipaddress.ip_address(t["OutsideIpAddress"]) in pool
        inside = ipaddress.ip_network(t["TunnelInsideCidr"])
        assert inside.prefixlen == 30 and inside.subnet_of(ipaddress.ip_network("169.254.0.0/16"))
        assert t["TunnelInsideCidr"] not in RESERVED
        assert re.fullmatch(r"[A-Za-z1-9._][A-Za-z0-9._]{31}", t["PreSharedKey"])
        # Options left to AWS's defaults are not listed (only chosen ones are, as EC2
        # answers and Terraform's provider expects); the document shows the defaults.
        assert set(t) == {"OutsideIpAddress", "TunnelInsideCidr", "PreSharedKey", "LogOptions",
                          "EnableTunnelLifecycleControl"}, t
    assert t1["OutsideIpAddress"] != t2["OutsideIpAddress"]
    assert t1["TunnelInsideCidr"] != t2["TunnelInsideCidr"]
    assert [(x["OutsideIpAddress"], x["Status"], x["AcceptedRouteCount"]) for x in c["VgwTelemetry"]] == [
        (t1["OutsideIpAddress"], "DOWN", 0), (t2["OutsideIpAddress"], "DOWN", 0)]

    # The customer gateway configuration: AWS's generic XML, two tunnels, no BGP.
    root, tunnels = tunnels_of(c["CustomerGatewayConfiguration"])
    assert root.tag == "vpn_connection" and root.get("id") == cid
    assert root.findtext("customer_gateway_id") == cgw and root.findtext("vpn_gateway_id") == vgw
    assert root.findtext("vpn_connection_type") == "ipsec.1"
    assert root.findtext("vpn_connection_attributes") == "NoBGPVPNConnection"
    assert len(tunnels) == 2
    for doc, t in zip(tunnels, (t1, t2)):
        net = ipaddress.ip_network(t["TunnelInsideCidr"])
        assert doc["outside"] == t["OutsideIpAddress"] and doc["cgw_outside"] == "203.0.113.50"
        assert doc["vgw_inside"] == str(net[1]) and doc["cgw_inside"] == str(net[2])
        assert doc["mask"] == "255.255.255.252" and doc["key"] == t["PreSharedKey"]
        assert doc["vgw_asn"] is None and doc["cgw_asn"] is None
        assert (doc["ike_enc"], doc["ike_lifetime"], doc["esp_auth"], doc["pfs"], doc["dpd_delay"]) == (
            "aes-128-cbc", "28800", "hmac-sha1-96", "group2", "10")

    [d] = ec2.describe_vpn_connections(VpnConnectionIds=[cid])["VpnConnections"]
    assert d["State"] == "available" and d["CustomerGatewayConfiguration"] == c["CustomerGatewayConfiguration"]
    for name, value in [("vpn-connection-id", cid), ("vpn-gateway-id", vgw), ("customer-gateway-id", cgw),
                        ("state", "available"), ("type", "ipsec.1"), ("option.static-routes-only", "true"),
                        ("bgp-asn", "65010"), ("tag:Name", "office")]:
        got = ec2.describe_vpn_connections(Filters=[{"Name": name, "Values": [value]}])["VpnConnections"]
        assert cid in [x["VpnConnectionId"] for x in got], name
    assert ec2.describe_vpn_connections(Filters=[{"Name": "option.static-routes-only", "Values": ["false"]},
                                                 {"Name": "vpn-connection-id", "Values": [cid]}])["VpnConnections"] == []

    # Static routes, and their propagation into a table of the gateway's VPC.
    ec2.create_vpn_connection_route(VpnConnectionId=cid, DestinationCidrBlock="192.168.0.0/16")
    ec2.create_vpn_connection_route(VpnConnectionId=cid, DestinationCidrBlock="172.16.0.0/12")
    assert error_code(ec2.create_vpn_connection_route, VpnConnectionId=cid, DestinationCidrBlock="192.168.0.0/16") == "RouteAlreadyExists"
    assert error_code(ec2.create_vpn_connection_route, VpnConnectionId=cid, DestinationCidrBlock="192.168.0.0/33") == "InvalidParameterValue"
    assert error_code(ec2.create_vpn_connection_route, VpnConnectionId="vpn-0123456789abcdef0", DestinationCidrBlock="10.9.0.0/16") == "InvalidVpnConnectionID.NotFound"
    [d] = ec2.describe_vpn_connections(VpnConnectionIds=[cid])["VpnConnections"]
    assert sorted((r["DestinationCidrBlock"], r["Source"], r["State"]) for r in d["Routes"]) == [
        ("172.16.0.0/12", "Static", "available"), ("192.168.0.0/16", "Static", "available")]
    got = ec2.describe_vpn_connections(Filters=[{"Name": "route.destination-cidr-block", "Values": ["172.16.0.0/12"]}])
    assert cid in [x["VpnConnectionId"] for x in got["VpnConnections"]]

    rtb = ec2.create_route_table(VpcId=vpc["VpcId"])["RouteTable"]["RouteTableId"]
    quiet = ec2.create_route_table(VpcId=vpc["VpcId"])["RouteTable"]["RouteTableId"]
    ec2.enable_vgw_route_propagation(RouteTableId=rtb, GatewayId=vgw)

    def routes(table):
        t = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]
        return {r.get("DestinationCidrBlock"): r for r in t["Routes"]}

    r = routes(rtb)
    for dest in ("192.168.0.0/16", "172.16.0.0/12"):
        assert (r[dest]["GatewayId"], r[dest]["Origin"], r[dest]["State"]) == (vgw, "EnableVgwRoutePropagation", "active")
    assert "192.168.0.0/16" not in routes(quiet)
    got = ec2.describe_route_tables(Filters=[{"Name": "route.origin", "Values": ["EnableVgwRoutePropagation"]},
                                             {"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["RouteTables"]
    assert [t["RouteTableId"] for t in got] == [rtb]
    # A static route to the same block wins (AWS's route priority): the propagated one is not listed.
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc["VpcId"])
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="172.16.0.0/12", GatewayId=igw)
    r = routes(rtb)
    assert (r["172.16.0.0/12"]["GatewayId"], r["172.16.0.0/12"]["Origin"]) == (igw, "CreateRoute")
    ec2.delete_route(RouteTableId=rtb, DestinationCidrBlock="172.16.0.0/12")
    assert routes(rtb)["172.16.0.0/12"]["Origin"] == "EnableVgwRoutePropagation"
    # A route deleted from the connection leaves the table.
    ec2.delete_vpn_connection_route(VpnConnectionId=cid, DestinationCidrBlock="172.16.0.0/12")
    assert "172.16.0.0/12" not in routes(rtb)
    assert error_code(ec2.delete_vpn_connection_route, VpnConnectionId=cid, DestinationCidrBlock="172.16.0.0/12") == "InvalidRoute.NotFound"
    # Propagation stops with DisableVgwRoutePropagation, and with a detached gateway.
    ec2.disable_vgw_route_propagation(RouteTableId=rtb, GatewayId=vgw)
    assert "192.168.0.0/16" not in routes(rtb)
    ec2.enable_vgw_route_propagation(RouteTableId=rtb, GatewayId=vgw)
    assert "192.168.0.0/16" in routes(rtb)

    # In use: the customer gateway and the virtual private gateway cannot go.
    assert error_code(ec2.delete_customer_gateway, CustomerGatewayId=cgw) == "IncorrectState"
    ec2.detach_vpn_gateway(VpnGatewayId=vgw, VpcId=vpc["VpcId"])
    assert "192.168.0.0/16" not in routes(rtb)
    assert error_code(ec2.delete_vpn_gateway, VpnGatewayId=vgw) == "IncorrectState"
    ec2.attach_vpn_gateway(VpnGatewayId=vgw, VpcId=vpc["VpcId"])

    # Delete: `deleted`, still described, without its document; its routes leave the table;
    # its outside addresses go back to the pool.
    ec2.delete_vpn_connection(VpnConnectionId=cid)
    [d] = ec2.describe_vpn_connections(VpnConnectionIds=[cid])["VpnConnections"]
    assert d["State"] == "deleted" and "CustomerGatewayConfiguration" not in d
    assert "192.168.0.0/16" not in routes(rtb)
    assert error_code(ec2.delete_vpn_connection, VpnConnectionId=cid) == "InvalidVpnConnectionID.NotFound"
    assert error_code(ec2.create_vpn_connection_route, VpnConnectionId=cid, DestinationCidrBlock="10.9.0.0/16") == "InvalidVpnConnectionID.NotFound"
    eip = ec2.allocate_address(Domain="vpc", Address=t1["OutsideIpAddress"])
    ec2.release_address(AllocationId=eip["AllocationId"])
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc["VpcId"])
    ec2.delete_internet_gateway(InternetGatewayId=igw)
    ec2.delete_route_table(RouteTableId=rtb)
    ec2.delete_route_table(RouteTableId=quiet)


def test_bgp_connection_document(ec2, gateways):
    vgw, cgw = gateways
    c = ec2.create_vpn_connection(Type="ipsec.1", CustomerGatewayId=cgw, VpnGatewayId=vgw)["VpnConnection"]
    assert c["Options"]["StaticRoutesOnly"] is False
    root, tunnels = tunnels_of(c["CustomerGatewayConfiguration"])
    assert root.find("vpn_connection_attributes") is None
    assert [(t["cgw_asn"], t["vgw_asn"]) for t in tunnels] == [("65010", "64512")] * 2
    # Static routes are for static connections only.
    assert error_code(ec2.create_vpn_connection_route, VpnConnectionId=c["VpnConnectionId"],
                      DestinationCidrBlock="192.168.0.0/16") == "InvalidVpnConnection.InvalidState"


def test_tags_of_a_connection_by_resource_type(ec2, gateways):
    """DescribeTags names a VPN connection's resource type `vpn-connection` (Ansible's
    ec2_vpc_vpn reads its tags filtered by it, to tell whether they change)."""
    vgw, cgw = gateways
    cid = ec2.create_vpn_connection(Type="ipsec.1", CustomerGatewayId=cgw, VpnGatewayId=vgw,
                                    Options={"StaticRoutesOnly": True})["VpnConnection"]["VpnConnectionId"]
    ec2.create_tags(Resources=[cid], Tags=[{"Key": "Key with Spaces", "Value": "v"}])
    [t] = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [cid]}])["Tags"]
    assert t["ResourceType"] == "vpn-connection"
    got = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [cid]},
                                     {"Name": "resource-type", "Values": ["vpn-connection"]}])["Tags"]
    assert [(x["Key"], x["Value"]) for x in got] == [("Key with Spaces", "v")]


def test_tunnel_options_are_checked(ec2, gateways):
    vgw, cgw = gateways

    def create(*tunnels, **options):
        return ec2.create_vpn_connection(Type="ipsec.1", CustomerGatewayId=cgw, VpnGatewayId=vgw,
                                         Options={"StaticRoutesOnly": True, "TunnelOptions": list(tunnels), **options})["VpnConnection"]

    chosen = {
        "TunnelInsideCidr": "169.254.100.0/30", "PreSharedKey": "Fort_tunnel.one1",
        "Phase1LifetimeSeconds": 3600, "Phase2LifetimeSeconds": 1800, "RekeyMarginTimeSeconds": 120,
        "DPDTimeoutSeconds": 40, "DPDTimeoutAction": "restart", "StartupAction": "start",
        "Phase1EncryptionAlgorithms": [{"Value": "AES256-GCM-16"}], "Phase2EncryptionAlgorithms": [{"Value": "AES256"}],
        "Phase1IntegrityAlgorithms": [{"Value": "SHA2-256"}], "Phase2IntegrityAlgorithms": [{"Value": "SHA2-512"}],
        "Phase1DHGroupNumbers": [{"Value": 14}], "Phase2DHGroupNumbers": [{"Value": 5}, {"Value": 19}],
        "IKEVersions": [{"Value": "ikev2"}],
    }
    c = create(chosen, {"TunnelInsideCidr": "169.254.100.4/30"})
    t1, t2 = c["Options"]["TunnelOptions"]
    assert (t1["TunnelInsideCidr"], t1["PreSharedKey"], t1["Phase2LifetimeSeconds"], t1["DpdTimeoutAction"]) == (
        "169.254.100.0/30", "Fort_tunnel.one1", 1800, "restart")
    assert [x["Value"] for x in t1["Phase2DHGroupNumbers"]] == [5, 19] and [x["Value"] for x in t1["IkeVersions"]] == ["ikev2"]
    assert t1["StartupAction"] == "start" and t2["TunnelInsideCidr"] == "169.254.100.4/30"
    assert "Phase1LifetimeSeconds" not in t2 and "IkeVersions" not in t2
    _, tunnels = tunnels_of(c["CustomerGatewayConfiguration"])
    assert (tunnels[0]["ike_enc"], tunnels[0]["esp_auth"], tunnels[0]["pfs"], tunnels[0]["ike_lifetime"]) == (
        "aes-256-gcm-16", "hmac-sha2-512-256", "group5", "3600")

    # An inside block is unique on the gateway, and within the connection.
    assert error_code(create, {"TunnelInsideCidr": "169.254.100.0/30"}) == "InvalidParameterValue"
    assert error_code(create, {"TunnelInsideCidr": "169.254.101.0/30"}, {"TunnelInsideCidr": "169.254.101.0/30"}) == "InvalidParameterValue"
    bad = [
        {"TunnelInsideCidr": "169.254.101.0/29"},
        {"TunnelInsideCidr": "169.254.101.1/30"},
        {"TunnelInsideCidr": "10.0.0.0/30"},
        {"PreSharedKey": "short"},
        {"PreSharedKey": "0starts_with_zero"},
        {"PreSharedKey": "has-a-dash-in-it"},
        {"Phase1LifetimeSeconds": 899},
        {"Phase2LifetimeSeconds": 3601},
        {"Phase1LifetimeSeconds": 1000, "Phase2LifetimeSeconds": 1000},
        {"RekeyMarginTimeSeconds": 59},
        {"Phase2LifetimeSeconds": 900, "RekeyMarginTimeSeconds": 451},
        {"RekeyFuzzPercentage": 101},
        {"ReplayWindowSize": 63},
        {"DPDTimeoutSeconds": 29},
        {"DPDTimeoutAction": "hold"},
        {"StartupAction": "later"},
        {"Phase1EncryptionAlgorithms": [{"Value": "3DES"}]},
        {"Phase2IntegrityAlgorithms": [{"Value": "MD5"}]},
        {"Phase1DHGroupNumbers": [{"Value": 5}]},
        {"Phase2DHGroupNumbers": [{"Value": 1}]},
        {"IKEVersions": [{"Value": "ikev3"}]},
    ] + [{"TunnelInsideCidr": r} for r in RESERVED]
    for options in bad:
        assert error_code(create, options) == "InvalidParameterValue", options
    dpd = {"DPDTimeoutSeconds": 30}
    assert error_code(create, dpd, dpd, dpd) == "InvalidParameterValue"
    assert error_code(create, TunnelInsideIpVersion="ipv6") == "InvalidParameterValue"
    assert error_code(create, EnableAcceleration=True) == "InvalidParameterValue"
    assert error_code(create, LocalIpv4NetworkCidr="10.0.0.1/8") == "InvalidParameterValue"

    # ModifyVpnTunnelOptions: one tunnel, named by its outside address.
    cid = c["VpnConnectionId"]
    m = ec2.modify_vpn_tunnel_options(VpnConnectionId=cid, VpnTunnelOutsideIpAddress=t2["OutsideIpAddress"],
                                      TunnelOptions={"PreSharedKey": "another_key_2", "DPDTimeoutSeconds": 60,
                                                     "TunnelInsideCidr": "169.254.100.8/30"})["VpnConnection"]
    n1, n2 = m["Options"]["TunnelOptions"]
    assert n1 == t1
    assert (n2["PreSharedKey"], n2["DpdTimeoutSeconds"], n2["TunnelInsideCidr"]) == ("another_key_2", 60, "169.254.100.8/30")
    # what was chosen before stays listed with what is chosen now
    assert "Phase2LifetimeSeconds" not in n2
    m = ec2.modify_vpn_tunnel_options(VpnConnectionId=cid, VpnTunnelOutsideIpAddress=t2["OutsideIpAddress"],
                                      TunnelOptions={"Phase2LifetimeSeconds": 1200})["VpnConnection"]
    n2 = m["Options"]["TunnelOptions"][1]
    assert (n2["Phase2LifetimeSeconds"], n2["DpdTimeoutSeconds"]) == (1200, 60)
    _, tunnels = tunnels_of(m["CustomerGatewayConfiguration"])
    assert tunnels[1]["key"] == "another_key_2" and tunnels[1]["vgw_inside"] == "169.254.100.9"
    assert error_code(ec2.modify_vpn_tunnel_options, VpnConnectionId=cid, VpnTunnelOutsideIpAddress="192.0.2.9",
                      TunnelOptions={"DPDTimeoutSeconds": 60}) == "InvalidParameterValue"
    assert error_code(ec2.modify_vpn_tunnel_options, VpnConnectionId=cid, VpnTunnelOutsideIpAddress=t2["OutsideIpAddress"],
                      TunnelOptions={"TunnelInsideCidr": "169.254.100.0/30"}) == "InvalidParameterValue"
    assert error_code(ec2.modify_vpn_tunnel_options, VpnConnectionId=cid, VpnTunnelOutsideIpAddress=t2["OutsideIpAddress"],
                      TunnelOptions={"Phase2LifetimeSeconds": 3600, "Phase1LifetimeSeconds": 1200}) == "InvalidParameterValue"
    assert error_code(ec2.modify_vpn_tunnel_options, VpnConnectionId="vpn-0123456789abcdef0", VpnTunnelOutsideIpAddress=t2["OutsideIpAddress"],
                      TunnelOptions={"DPDTimeoutSeconds": 60}) == "InvalidVpnConnectionID.NotFound"
    # ModifyVpnConnectionOptions: the traffic selectors.
    m = ec2.modify_vpn_connection_options(VpnConnectionId=cid, LocalIpv4NetworkCidr="192.168.0.0/16",
                                          RemoteIpv4NetworkCidr="10.0.0.0/16")["VpnConnection"]
    assert (m["Options"]["LocalIpv4NetworkCidr"], m["Options"]["RemoteIpv4NetworkCidr"]) == ("192.168.0.0/16", "10.0.0.0/16")


def test_modify_vpn_connection_moves_it(ec2, vpc, gateways):
    vgw, cgw = gateways
    c = ec2.create_vpn_connection(Type="ipsec.1", CustomerGatewayId=cgw, VpnGatewayId=vgw,
                                  Options={"StaticRoutesOnly": True})["VpnConnection"]
    cid = c["VpnConnectionId"]
    other_cgw = ec2.create_customer_gateway(Type="ipsec.1", IpAddress="203.0.113.51", BgpAsn=65011)["CustomerGateway"]["CustomerGatewayId"]
    other_vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    m = ec2.modify_vpn_connection(VpnConnectionId=cid, CustomerGatewayId=other_cgw)["VpnConnection"]
    assert m["CustomerGatewayId"] == other_cgw
    root, tunnels = tunnels_of(m["CustomerGatewayConfiguration"])
    assert [t["cgw_outside"] for t in tunnels] == ["203.0.113.51"] * 2
    m = ec2.modify_vpn_connection(VpnConnectionId=cid, VpnGatewayId=other_vgw)["VpnConnection"]
    assert m["VpnGatewayId"] == other_vgw
    # The tunnels keep their addresses and keys.
    assert [t["OutsideIpAddress"] for t in m["Options"]["TunnelOptions"]] == [t["OutsideIpAddress"] for t in c["Options"]["TunnelOptions"]]
    assert error_code(ec2.modify_vpn_connection, VpnConnectionId=cid, VpnGatewayId="vgw-0123456789abcdef0") == "InvalidVpnGatewayID.NotFound"
    assert error_code(ec2.modify_vpn_connection, VpnConnectionId=cid) == "MissingParameter"
    assert error_code(ec2.modify_vpn_connection, VpnConnectionId=cid, VpnGatewayId=vgw, TransitGatewayId="tgw-0123456789abcdef0") == "InvalidParameterValue"
    ec2.modify_vpn_connection(VpnConnectionId=cid, VpnGatewayId=vgw, CustomerGatewayId=cgw)
    ec2.delete_vpn_gateway(VpnGatewayId=other_vgw)
    ec2.delete_customer_gateway(CustomerGatewayId=other_cgw)


def test_vpn_connection_requests_checked_in_ec2s_order(ec2):
    """The order and wordings of moto's AWS-verified tests."""
    def err(**kw):
        try:
            ec2.create_vpn_connection(Type="ipsec.1", **kw)
        except ec2.exceptions.ClientError as e:
            return e.response["Error"]["Code"], e.response["Error"]["Message"]
        raise AssertionError("CreateVpnConnection succeeded")

    assert err(VpnGatewayId="vgw-0123abcd", CustomerGatewayId="cgw-0123abcd", TransitGatewayId="gateway_id") == (
        "InvalidParameterValue", "The request must not contain both parameter vpnGatewayId and transitGatewayId")
    assert err(CustomerGatewayId="cgw-0123abcd", TransitGatewayId="gateway_id") == (
        "InvalidCustomerGatewayID.NotFound", "The customerGateway ID 'cgw-0123abcd' does not exist")
    cgw = ec2.create_customer_gateway(Type="ipsec.1", IpAddress="203.0.113.20", BgpAsn=65534)["CustomerGateway"]["CustomerGatewayId"]
    assert err(CustomerGatewayId=cgw, TransitGatewayId="tgw-abcdefghij0123456") == (
        "InvalidTransitGatewayID.NotFound", "The transitGateway ID 'tgw-abcdefghij0123456' does not exist")
    assert err(CustomerGatewayId=cgw, VpnGatewayId="vgw-0123456789abcdef0")[0] == "InvalidVpnGatewayID.NotFound"
    tgw = ec2.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]
    assert error_code(ec2.describe_vpn_connections, VpnConnectionIds=["vpn-0123abcd"]) == "InvalidVpnConnectionID.NotFound"
    assert error_code(ec2.describe_vpn_connections, VpnConnectionIds=["?"]) == "InvalidVpnConnectionID.Malformed"
    assert error_code(ec2.delete_vpn_connection, VpnConnectionId="vpn-0123abcd") == "InvalidVpnConnectionID.NotFound"
    ec2.delete_transit_gateway(TransitGatewayId=tgw)
    ec2.delete_customer_gateway(CustomerGatewayId=cgw)


def test_vpn_connections_per_gateway_quota(ec2, gateways):
    """Ten connections per virtual private gateway (a hard AWS quota)."""
    vgw, cgw = gateways
    made = [ec2.create_vpn_connection(Type="ipsec.1", CustomerGatewayId=cgw, VpnGatewayId=vgw)["VpnConnection"]
            for _ in range(10)]
    insides = {t["TunnelInsideCidr"] for c in made for t in c["Options"]["TunnelOptions"]}
    outsides = {t["OutsideIpAddress"] for c in made for t in c["Options"]["TunnelOptions"]}
    assert len(insides) == 20 and len(outsides) == 20
    assert error_code(ec2.create_vpn_connection, Type="ipsec.1", CustomerGatewayId=cgw, VpnGatewayId=vgw) == "VpnConnectionLimitExceeded"
    # nor can one be moved onto it
    loose = ec2.create_vpn_connection(Type="ipsec.1", CustomerGatewayId=cgw)["VpnConnection"]["VpnConnectionId"]
    assert error_code(ec2.modify_vpn_connection, VpnConnectionId=loose, VpnGatewayId=vgw) == "VpnConnectionLimitExceeded"
    ec2.delete_vpn_connection(VpnConnectionId=loose)
    ec2.delete_vpn_connection(VpnConnectionId=made[0]["VpnConnectionId"])
    ec2.create_vpn_connection(Type="ipsec.1", CustomerGatewayId=cgw, VpnGatewayId=vgw)


def test_transit_gateway_vpn_attachment(ec2):
    """A connection on a transit gateway is an attachment of resource type `vpn`:
    associated with and propagating to the gateway's default tables, its routes
    (static here) propagated there; the gateway cannot go while it is attached;
    deleting the connection deletes the attachment."""
    tgw = ec2.create_transit_gateway(Options={"AmazonSideAsn": 64600})["TransitGateway"]
    tgw_id = tgw["TransitGatewayId"]
    table = tgw["Options"]["AssociationDefaultRouteTableId"]
    cgw = ec2.create_customer_gateway(Type="ipsec.1", IpAddress="203.0.113.60", BgpAsn=65020)["CustomerGateway"]["CustomerGatewayId"]
    conn = ec2.create_vpn_connection(Type="ipsec.1", CustomerGatewayId=cgw, TransitGatewayId=tgw_id,
                                     Options={"StaticRoutesOnly": True})["VpnConnection"]
    cid = conn["VpnConnectionId"]
    try:
        assert conn["TransitGatewayId"] == tgw_id and "VpnGatewayId" not in conn
        [c] = ec2.describe_vpn_connections(Filters=[{"Name": "transit-gateway-id", "Values": [tgw_id]}])["VpnConnections"]
        assert c["VpnConnectionId"] == cid
        assert "<vpn_gateway_id>" not in c["CustomerGatewayConfiguration"]
        [a] = ec2.describe_transit_gateway_attachments(
            Filters=[{"Name": "resource-type", "Values": ["vpn"]},
                     {"Name": "transit-gateway-id", "Values": [tgw_id]}])["TransitGatewayAttachments"]
        assert (a["ResourceType"], a["ResourceId"], a["State"]) == ("vpn", cid, "available")
        att = a["TransitGatewayAttachmentId"]
        assert a["Association"]["TransitGatewayRouteTableId"] == table
        [assoc] = ec2.get_transit_gateway_route_table_associations(TransitGatewayRouteTableId=table)["Associations"]
        assert (assoc["TransitGatewayAttachmentId"], assoc["ResourceType"], assoc["ResourceId"]) == (att, "vpn", cid)
        [prop] = ec2.get_transit_gateway_route_table_propagations(TransitGatewayRouteTableId=table)["TransitGatewayRouteTablePropagations"]
        assert (prop["TransitGatewayAttachmentId"], prop["ResourceType"]) == (att, "vpn")

        # its static routes propagate into the table
        ec2.create_vpn_connection_route(VpnConnectionId=cid, DestinationCidrBlock="192.168.10.0/24")
        routes = ec2.search_transit_gateway_routes(
            TransitGatewayRouteTableId=table, Filters=[{"Name": "type", "Values": ["propagated"]}])["Routes"]
        assert [(r["DestinationCidrBlock"], r["TransitGatewayAttachments"][0]["TransitGatewayAttachmentId"],
                 r["TransitGatewayAttachments"][0]["ResourceType"]) for r in routes] == [("192.168.10.0/24", att, "vpn")]

        assert error_code(ec2.delete_transit_gateway, TransitGatewayId=tgw_id) == "IncorrectState"
    finally:
        ec2.delete_vpn_connection(VpnConnectionId=cid)
    [a] = ec2.describe_transit_gateway_attachments(TransitGatewayAttachmentIds=[att])["TransitGatewayAttachments"]
    assert a["State"] == "deleted"
    assert ec2.get_transit_gateway_route_table_associations(TransitGatewayRouteTableId=table)["Associations"] == []
    assert ec2.search_transit_gateway_routes(
        TransitGatewayRouteTableId=table, Filters=[{"Name": "type", "Values": ["propagated"]}])["Routes"] == []
    ec2.delete_transit_gateway(TransitGatewayId=tgw_id)
    ec2.delete_customer_gateway(CustomerGatewayId=cgw)


def test_a_transit_gateway_vpn_attachment_has_tags_of_its_own(ec2):
    """EC2 tags a VPN's transit gateway attachment apart from its connection (Terraform's
    aws_ec2_tag names such an attachment): CreateTags/DeleteTags work on it, Describe shows
    and filters by its tags, and once the connection is gone it is NotFound for tagging."""
    tgw_id = ec2.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]
    cgw = ec2.create_customer_gateway(Type="ipsec.1", IpAddress="203.0.113.61", BgpAsn=65021)["CustomerGateway"]["CustomerGatewayId"]
    cid = ec2.create_vpn_connection(Type="ipsec.1", CustomerGatewayId=cgw, TransitGatewayId=tgw_id,
                                    TagSpecifications=[{"ResourceType": "vpn-connection",
                                                        "Tags": [{"Key": "Name", "Value": "conn"}]}],
                                    Options={"StaticRoutesOnly": True})["VpnConnection"]["VpnConnectionId"]
    try:
        [a] = ec2.describe_transit_gateway_attachments(
            Filters=[{"Name": "resource-id", "Values": [cid]}])["TransitGatewayAttachments"]
        att = a["TransitGatewayAttachmentId"]
        assert a["Tags"] == []
        ec2.create_tags(Resources=[att], Tags=[{"Key": "Name", "Value": "office-vpn"}])
        [a] = ec2.describe_transit_gateway_attachments(
            Filters=[{"Name": "tag:Name", "Values": ["office-vpn"]}])["TransitGatewayAttachments"]
        assert a["TransitGatewayAttachmentId"] == att
        assert a["Tags"] == [{"Key": "Name", "Value": "office-vpn"}]
        [t] = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [att]},
                                         {"Name": "key", "Values": ["Name"]}])["Tags"]
        assert (t["ResourceType"], t["Value"]) == ("transit-gateway-attachment", "office-vpn")
        # the connection keeps its own tags
        [c] = ec2.describe_vpn_connections(VpnConnectionIds=[cid])["VpnConnections"]
        assert c["Tags"] == [{"Key": "Name", "Value": "conn"}]
        ec2.delete_tags(Resources=[att], Tags=[{"Key": "Name"}])
        assert ec2.describe_transit_gateway_attachments(
            TransitGatewayAttachmentIds=[att])["TransitGatewayAttachments"][0]["Tags"] == []
    finally:
        ec2.delete_vpn_connection(VpnConnectionId=cid)
    assert error_code(ec2.create_tags, Resources=[att],
                      Tags=[{"Key": "a", "Value": "b"}]) == "InvalidTransitGatewayAttachmentID.NotFound"
    ec2.delete_transit_gateway(TransitGatewayId=tgw_id)
    ec2.delete_customer_gateway(CustomerGatewayId=cgw)


def test_acceleration_on_a_transit_gateway_and_tunnel_log_options(ec2, gateways):
    """`EnableAcceleration` is taken for a connection on a transit gateway (refused on a
    virtual private gateway) and reported; a tunnel's CloudWatch Logs options are kept
    and reported, at creation and by ModifyVpnTunnelOptions (the provider's
    tunnel1_log_options)."""
    tgw = ec2.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]
    _, cgw = gateways
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:tunnels"
    logs = {"CloudWatchLogOptions": {"LogEnabled": True, "LogGroupArn": arn, "LogOutputFormat": "json"}}
    conn = ec2.create_vpn_connection(
        Type="ipsec.1", CustomerGatewayId=cgw, TransitGatewayId=tgw,
        Options={"EnableAcceleration": True, "TunnelOptions": [{"LogOptions": logs}]})["VpnConnection"]
    cid = conn["VpnConnectionId"]
    try:
        [c] = ec2.describe_vpn_connections(VpnConnectionIds=[cid])["VpnConnections"]
        assert c["Options"]["EnableAcceleration"] is True
        first, second = c["Options"]["TunnelOptions"]
        assert first["LogOptions"] == logs
        assert second["LogOptions"] == {"CloudWatchLogOptions": {"LogEnabled": False}}
        ec2.modify_vpn_tunnel_options(
            VpnConnectionId=cid, VpnTunnelOutsideIpAddress=first["OutsideIpAddress"],
            TunnelOptions={"LogOptions": {"CloudWatchLogOptions": {"LogEnabled": False}}})
        [c] = ec2.describe_vpn_connections(VpnConnectionIds=[cid])["VpnConnections"]
        assert c["Options"]["TunnelOptions"][0]["LogOptions"]["CloudWatchLogOptions"]["LogEnabled"] is False
        bad = {"CloudWatchLogOptions": {"LogEnabled": True, "LogOutputFormat": "xml"}}
        assert error_code(ec2.modify_vpn_tunnel_options, VpnConnectionId=cid,
                          VpnTunnelOutsideIpAddress=first["OutsideIpAddress"],
                          TunnelOptions={"LogOptions": bad}) == "InvalidParameterValue"
    finally:
        ec2.delete_vpn_connection(VpnConnectionId=cid)
        ec2.delete_transit_gateway(TransitGatewayId=tgw)


def test_a_connection_without_a_gateway_is_moved_between_gateways(ec2, vpc, gateways):
    """EC2 makes a connection with neither a virtual private nor a transit gateway (to be
    attached later, aws_vpn_connection without either); ModifyVpnConnection moves it onto a
    transit gateway (a `vpn` attachment there), then onto a virtual private gateway (the
    attachment gone), answering `modifying` while it moves; the tunnels stay."""
    vgw, cgw = gateways
    tgw = ec2.create_transit_gateway()["TransitGateway"]
    tgw_id, table = tgw["TransitGatewayId"], tgw["Options"]["AssociationDefaultRouteTableId"]
    c = ec2.create_vpn_connection(Type="ipsec.1", CustomerGatewayId=cgw,
                                  Options={"StaticRoutesOnly": True})["VpnConnection"]
    cid = c["VpnConnectionId"]
    try:
        assert "VpnGatewayId" not in c and "TransitGatewayId" not in c
        assert c["GatewayAssociationState"] == "not-associated"
        [d] = ec2.describe_vpn_connections(VpnConnectionIds=[cid])["VpnConnections"]
        assert d["State"] == "available" and len(d["Options"]["TunnelOptions"]) == 2
        outside = [t["OutsideIpAddress"] for t in d["Options"]["TunnelOptions"]]

        m = ec2.modify_vpn_connection(VpnConnectionId=cid, TransitGatewayId=tgw_id)["VpnConnection"]
        assert (m["State"], m["TransitGatewayId"]) == ("modifying", tgw_id) and "VpnGatewayId" not in m
        [d] = ec2.describe_vpn_connections(VpnConnectionIds=[cid])["VpnConnections"]
        assert (d["State"], d["GatewayAssociationState"]) == ("available", "associated")
        [a] = ec2.describe_transit_gateway_attachments(
            Filters=[{"Name": "resource-id", "Values": [cid]}])["TransitGatewayAttachments"]
        assert (a["ResourceType"], a["TransitGatewayId"], a["State"]) == ("vpn", tgw_id, "available")
        [assoc] = ec2.get_transit_gateway_route_table_associations(TransitGatewayRouteTableId=table)["Associations"]
        assert assoc["ResourceId"] == cid
        assert error_code(ec2.modify_vpn_connection, VpnConnectionId=cid,
                          TransitGatewayId="tgw-0123456789abcdef0") == "InvalidTransitGatewayID.NotFound"

        m = ec2.modify_vpn_connection(VpnConnectionId=cid, VpnGatewayId=vgw)["VpnConnection"]
        assert (m["State"], m["VpnGatewayId"]) == ("modifying", vgw) and "TransitGatewayId" not in m
        assert [t["OutsideIpAddress"] for t in m["Options"]["TunnelOptions"]] == outside
        assert ec2.get_transit_gateway_route_table_associations(TransitGatewayRouteTableId=table)["Associations"] == []
        assert ec2.describe_transit_gateway_attachments(
            Filters=[{"Name": "resource-id", "Values": [cid]}, {"Name": "state", "Values": ["available"]}]
        )["TransitGatewayAttachments"] == []
        # its static routes now propagate from the virtual private gateway
        ec2.create_vpn_connection_route(VpnConnectionId=cid, DestinationCidrBlock="192.168.20.0/24")
        # a customer gateway change alone is no move
        assert ec2.modify_vpn_connection(VpnConnectionId=cid, CustomerGatewayId=cgw)["VpnConnection"]["State"] == "available"
    finally:
        ec2.delete_vpn_connection(VpnConnectionId=cid)
        ec2.delete_transit_gateway(TransitGatewayId=tgw_id)


def test_ipv6_inside_addresses_on_a_transit_gateway(ec2, gateways):
    """TunnelInsideIpVersion ipv6 (transit gateway connections only): each tunnel has a /126
    of fd00::/8 (given, or chosen), the traffic selectors are IPv6 (::/0 by default)."""
    vgw, cgw = gateways
    tgw_id = ec2.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]

    def create(**options):
        return ec2.create_vpn_connection(Type="ipsec.1", CustomerGatewayId=cgw, TransitGatewayId=tgw_id,
                                         Options=options)["VpnConnection"]

    made = []
    try:
        c = create(TunnelInsideIpVersion="ipv6",
                   TunnelOptions=[{"TunnelInsideIpv6Cidr": "fd00:0:0:1::/126"}, {}])
        made.append(c["VpnConnectionId"])
        o = c["Options"]
        assert o["TunnelInsideIpVersion"] == "ipv6"
        assert (o["LocalIpv6NetworkCidr"], o["RemoteIpv6NetworkCidr"]) == ("::/0", "::/0")
        assert "LocalIpv4NetworkCidr" not in o
        t1, t2 = o["TunnelOptions"]
        assert t1["TunnelInsideIpv6Cidr"] == "fd00:0:0:1::/126" and "TunnelInsideCidr" not in t1
        net = ipaddress.ip_network(t2["TunnelInsideIpv6Cidr"])
        assert net.prefixlen == 126 and net.subnet_of(ipaddress.ip_network("fd00::/8"))

        # EC2's checks: /126 of fd00::/8, once per gateway, IPv6 on transit gateways only
        for bad in ["fd00::/64", "fd00::1/126", "2001:db8::/126", "fe80::/126"]:
            assert error_code(create, TunnelInsideIpVersion="ipv6",
                              TunnelOptions=[{"TunnelInsideIpv6Cidr": bad}]) == "InvalidParameterValue", bad
        assert error_code(create, TunnelInsideIpVersion="ipv6",
                          TunnelOptions=[{"TunnelInsideIpv6Cidr": "fd00:0:0:1::/126"}]) == "InvalidParameterValue"
        assert error_code(create, TunnelOptions=[{"TunnelInsideIpv6Cidr": "fd00:0:0:2::/126"}]) == "InvalidParameterValue"
        assert error_code(ec2.create_vpn_connection, Type="ipsec.1", CustomerGatewayId=cgw, VpnGatewayId=vgw,
                          Options={"TunnelInsideIpVersion": "ipv6"}) == "InvalidParameterValue"
        # an IPv6 connection cannot move to a virtual private gateway
        assert error_code(ec2.modify_vpn_connection, VpnConnectionId=c["VpnConnectionId"],
                          VpnGatewayId=vgw) == "InvalidParameterValue"

        c4 = create(LocalIpv4NetworkCidr="10.1.0.0/16")
        made.append(c4["VpnConnectionId"])
        assert c4["Options"]["TunnelInsideIpVersion"] == "ipv4"
        assert "TunnelInsideIpv6Cidr" not in c4["Options"]["TunnelOptions"][0]
    finally:
        for cid in made:
            ec2.delete_vpn_connection(VpnConnectionId=cid)
        ec2.delete_transit_gateway(TransitGatewayId=tgw_id)
