"""Every answer read against its botocore output shape.

boto3 parses EC2's XML by the model and silently drops what the model does not name, so a
misspelt field, a list without its `item` members or an enum value EC2 never uses would
pass every assertion a test makes on the parsed answer while the field is lost to every
SDK. This walks the raw XML of each successful answer along the operation's output shape
and records what does not fit: an element the shape has no member for, a list member that
is not `item`, a number, boolean or timestamp that does not parse, a string outside its
enum. `conftest.py` hooks it into every client and fails the test that met a violation.
"""

import xml.etree.ElementTree as ET

from botocore.utils import parse_timestamp

# top-level elements every EC2 answer may carry beside its shape's members: the request's
# id, and `return` of the actions the model gives no output (EC2 answers `true`)
ENVELOPE = {"requestId", "return"}

# values EC2 answers that the model's enums lack (the API reference's words for each):
# - the platform of Windows images and instances: "windows for Windows instances;
#   otherwise blank" (PlatformValues says `Windows`);
# - an internet gateway's attachment: "the state is available when attached to a VPC";
# - a VPC endpoint's state, in lower camel case as EC2 answers it (`available`,
#   `pendingAcceptance`; the model's State says `Available`, `PendingAcceptance`);
# - the interface type of a NAT gateway's interface, `nat_gateway` (the
#   `interface-type` filter's values; the model says `natGateway`);
# - a VPN connection being moved by ModifyVpnConnection, `modifying` (the CLI's example);
# - EC2 Fleet's `lowestPrice` allocation strategy, its first spelling, which EC2 still
#   takes and shows (terraform-provider-aws defaulted to it: "AWS SDK constant incorrect").
ALSO = {
    "SpotAllocationStrategy": {"lowestPrice"},
    "FleetOnDemandAllocationStrategy": {"lowestPrice"},
    "PlatformValues": {"windows"},
    "AttachmentStatus": {"available"},
    "State": {"pendingAcceptance", "pending", "available", "deleting", "deleted", "rejected", "failed", "expired"},
    "NetworkInterfaceType": {"nat_gateway"},
    "VpnState": {"modifying"},
}


def _tag(e):
    return e.tag.rsplit("}", 1)[-1]


def _check(shape, elem, path, out):
    kind = shape.type_name
    if kind == "structure":
        members = {m.serialization.get("name", name): m for name, m in shape.members.items()}
        for child in elem:
            tag = _tag(child)
            member = members.get(tag)
            if member is None:
                out.append(f"{path}/{tag}: no such member of {shape.name}")
            else:
                _check(member, child, f"{path}/{tag}", out)
    elif kind == "list":
        want = shape.member.serialization.get("name", "member")
        for i, child in enumerate(elem):
            tag = _tag(child)
            if tag != want:
                out.append(f"{path}/{tag}: a {shape.name} member must be <{want}>")
            _check(shape.member, child, f"{path}[{i}]", out)
    elif kind == "map":
        return  # EC2's output shapes hold none
    else:
        if len(elem):
            out.append(f"{path}: {kind} {shape.name} has child elements")
            return
        text = (elem.text or "").strip()
        try:
            if kind in ("integer", "long"):
                int(text)
            elif kind in ("float", "double"):
                float(text)
            elif kind == "boolean" and text not in ("true", "false"):
                raise ValueError
            elif kind == "timestamp":
                parse_timestamp(text)
        except (ValueError, TypeError):
            out.append(f"{path}: {text!r} is not a {kind}")
            return
        enum = shape.enum if kind == "string" else None
        if enum and text not in enum and text not in ALSO.get(shape.name, ()):
            out.append(f"{path}: {text!r} is not one of {shape.name}'s values")


def violations(model, body):
    """What of the XML answer `body` does not fit `model`'s output shape."""
    out = []
    root = ET.fromstring(body)
    if model.output_shape is None:
        return [f"/{_tag(c)}: {model.name} has no output" for c in root if _tag(c) not in ENVELOPE]
    _check(model.output_shape, root, "", out)
    return [v for v in out if not any(v.startswith(f"/{t}: no such member") for t in ENVELOPE)]


def hook(found):
    """An `after-call` handler that adds to `found` what each EC2 answer breaks."""

    def after_call(http_response, model, **_):
        if model.metadata.get("protocol") != "ec2" or http_response.status_code != 200:
            return
        for v in violations(model, http_response.content):
            found.append(f"{model.name}{v}")

    return after_call
