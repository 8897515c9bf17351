"""Key pairs: made (real RSA and ed25519 keys) or imported, described, deleted; RunInstances
refuses a key name the region does not know."""

import base64
import hashlib
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import error_code

try:
    from cryptography.hazmat.primitives import serialization
except ImportError:  # the checks that parse keys are skipped without it
    serialization = None

needs_cryptography = pytest.mark.skipif(serialization is None, reason="cryptography is not installed")
needs_ssh_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")


def hex_colons(digest):
    return ":".join(f"{b:02x}" for b in digest)


def ssh_fingerprint_b64(public_line):
    """EC2's ed25519 fingerprint: base64 of the SHA-256 of the SSH key blob."""
    blob = base64.b64decode(public_line.split()[1])
    return base64.b64encode(hashlib.sha256(blob).digest()).decode()


def ssh_keygen_public(private_pem):
    """The OpenSSH public key line `ssh-keygen -y` derives from a private key."""
    d = tempfile.mkdtemp(prefix="fort-key-")
    try:
        path = os.path.join(d, "key.pem")
        with open(path, "w") as f:
            f.write(private_pem + "\n")
        os.chmod(path, 0o600)
        return subprocess.run(["ssh-keygen", "-y", "-f", path], check=True, capture_output=True, text=True).stdout.strip()
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def key_names(ec2):
    """Names to create keys under; whatever exists under them is deleted afterwards."""
    names = []
    yield names
    for n in names:
        ec2.delete_key_pair(KeyName=n)


def test_create_rsa_key(ec2, key_names):
    key_names.append("kp-rsa")
    k = ec2.create_key_pair(KeyName="kp-rsa",
                            TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": "Name", "Value": "r"}]}])
    assert k["KeyName"] == "kp-rsa"
    assert k["KeyPairId"].startswith("key-") and len(k["KeyPairId"]) == 21
    assert k["Tags"] == [{"Key": "Name", "Value": "r"}]
    pem = k["KeyMaterial"]
    assert pem.startswith("-----BEGIN RSA PRIVATE KEY-----\n") and pem.endswith("-----END RSA PRIVATE KEY-----")
    fp = k["KeyFingerprint"]
    assert len(fp) == 59 and fp.count(":") == 19, "SHA-1, hex with colons"
    if serialization is not None:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        assert key.key_size == 2048
        pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
        assert fp == hex_colons(hashlib.sha1(pkcs8).digest())
    [d] = ec2.describe_key_pairs(KeyNames=["kp-rsa"], IncludePublicKey=True)["KeyPairs"]
    assert d["KeyType"] == "rsa" and d["KeyFingerprint"] == fp and d["KeyPairId"] == k["KeyPairId"]
    assert d["PublicKey"].startswith("ssh-rsa AAAA")
    assert d["CreateTime"] is not None
    assert d["Tags"] == [{"Key": "Name", "Value": "r"}]
    assert "PublicKey" not in ec2.describe_key_pairs(KeyNames=["kp-rsa"])["KeyPairs"][0]


@needs_ssh_keygen
def test_created_keys_work_with_ssh_keygen(ec2, key_names):
    key_names += ["kp-ed", "kp-ed-back", "kp-rsa2", "kp-rsa2-back"]
    k = ec2.create_key_pair(KeyName="kp-ed", KeyType="ed25519")
    assert k["KeyMaterial"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    public = ssh_keygen_public(k["KeyMaterial"])
    assert public.startswith("ssh-ed25519 ")
    assert k["KeyFingerprint"] == ssh_fingerprint_b64(public)
    d = ec2.describe_key_pairs(KeyPairIds=[k["KeyPairId"]], IncludePublicKey=True)["KeyPairs"][0]
    assert d["KeyType"] == "ed25519"
    assert d["PublicKey"].split()[:2] == public.split()[:2]
    # Importing the public half gives the same fingerprint (ed25519: SHA-256, base64).
    back = ec2.import_key_pair(KeyName="kp-ed-back", PublicKeyMaterial=public.encode())
    assert back["KeyFingerprint"] == k["KeyFingerprint"]

    r = ec2.create_key_pair(KeyName="kp-rsa2", KeyType="rsa")
    public = ssh_keygen_public(r["KeyMaterial"])
    assert public.startswith("ssh-rsa ")
    imported = ec2.import_key_pair(KeyName="kp-rsa2-back", PublicKeyMaterial=public.encode())
    # Imported RSA keys: MD5 of the DER public key, hex with colons.
    assert len(imported["KeyFingerprint"]) == 47
    if serialization is not None:
        der = serialization.load_ssh_public_key(public.encode()).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert imported["KeyFingerprint"] == hex_colons(hashlib.md5(der).digest())


@needs_cryptography
def test_import_generated_keys(ec2, key_names):
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    key_names += ["imp-ed", "imp-rsa"]
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    line = ed.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) + b" me@host"
    k = ec2.import_key_pair(KeyName="imp-ed", PublicKeyMaterial=line,
                            TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": "a", "Value": "b"}]}])
    assert k["KeyFingerprint"] == ssh_fingerprint_b64(line.decode())
    assert k["Tags"] == [{"Key": "a", "Value": "b"}]
    assert "KeyMaterial" not in k
    pub = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    line = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    k = ec2.import_key_pair(KeyName="imp-rsa", PublicKeyMaterial=line)
    der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert k["KeyFingerprint"] == hex_colons(hashlib.md5(der).digest())
    got = ec2.describe_key_pairs(Filters=[{"Name": "key-type", "Values": ["ed25519"]},
                                          {"Name": "key-name", "Values": ["imp-*"]}])["KeyPairs"]
    assert [x["KeyName"] for x in got] == ["imp-ed"]
    got = ec2.describe_key_pairs(Filters=[{"Name": "tag:a", "Values": ["b"]}])["KeyPairs"]
    assert [x["KeyName"] for x in got] == ["imp-ed"]
    got = ec2.describe_key_pairs(Filters=[{"Name": "fingerprint", "Values": [k["KeyFingerprint"]]}])["KeyPairs"]
    assert [x["KeyName"] for x in got] == ["imp-rsa"]


@needs_ssh_keygen
def test_import_ssh2_and_der_public_keys(ec2, key_names):
    """The formats EC2 documents besides the OpenSSH line: RFC 4716 (`ssh-keygen -e`) and
    an RSA key's DER; the same key gives the same fingerprint in each."""
    key_names += ["fmt-openssh", "fmt-ssh2", "fmt-der"]
    d = tempfile.mkdtemp(prefix="fort-key-")
    try:
        path = os.path.join(d, "k")
        subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", "me@host", "-f", path],
                       check=True)
        line = open(path + ".pub", "rb").read()
        ssh2 = subprocess.run(["ssh-keygen", "-e", "-m", "RFC4716", "-f", path + ".pub"],
                              check=True, capture_output=True).stdout
        pem = subprocess.run(["ssh-keygen", "-e", "-m", "PKCS8", "-f", path + ".pub"],
                             check=True, capture_output=True, text=True).stdout
    finally:
        shutil.rmtree(d, ignore_errors=True)
    assert ssh2.startswith(b"---- BEGIN SSH2 PUBLIC KEY ----")
    der = base64.b64decode("".join(l for l in pem.splitlines() if not l.startswith("-----")))
    want = ec2.import_key_pair(KeyName="fmt-openssh", PublicKeyMaterial=line)["KeyFingerprint"]
    assert want == hex_colons(hashlib.md5(der).digest())
    assert ec2.import_key_pair(KeyName="fmt-ssh2", PublicKeyMaterial=ssh2)["KeyFingerprint"] == want
    assert ec2.import_key_pair(KeyName="fmt-der", PublicKeyMaterial=der)["KeyFingerprint"] == want
    assert error_code(ec2.import_key_pair, KeyName="fmt-bad",
                      PublicKeyMaterial=ssh2.replace(b"---- END SSH2 PUBLIC KEY ----", b"")) == "InvalidKeyPair.Format"


def test_errors(ec2, key_names):
    key_names.append("kp-err")
    ec2.create_key_pair(KeyName="kp-err", KeyType="ed25519")
    assert error_code(ec2.create_key_pair, KeyName="kp-err") == "InvalidKeyPair.Duplicate"
    assert error_code(ec2.import_key_pair, KeyName="kp-err",
                      PublicKeyMaterial=b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl") \
        == "InvalidKeyPair.Duplicate"
    for bad in [b"not a key", b"ssh-rsa AAAA", b"ssh-dss AAAAB3NzaC1kc3MAAAA=", b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA=="]:
        assert error_code(ec2.import_key_pair, KeyName="kp-bad", PublicKeyMaterial=bad) == "InvalidKeyPair.Format", bad
    assert error_code(ec2.create_key_pair, KeyName="x" * 256) == "InvalidParameterValue"
    assert error_code(ec2.create_key_pair, KeyName="kp-x", KeyType="dsa") == "InvalidParameterValue"
    assert error_code(ec2.create_key_pair, KeyName="kp-x", KeyFormat="ppk") == "UnsupportedOperation"
    assert error_code(ec2.describe_key_pairs, KeyNames=["no-such-key"]) == "InvalidKeyPair.NotFound"
    assert error_code(ec2.describe_key_pairs, KeyPairIds=["key-0123456789abcdef0"]) == "InvalidKeyPair.NotFound"
    assert error_code(ec2.describe_key_pairs, Filters=[{"Name": "bogus", "Values": ["x"]}]) == "InvalidParameterValue"
    assert error_code(ec2.delete_key_pair) == "MissingParameter"


def test_delete_by_name_or_id_is_idempotent(ec2):
    a = ec2.create_key_pair(KeyName="kp-del-a", KeyType="ed25519")
    b = ec2.create_key_pair(KeyName="kp-del-b", KeyType="ed25519")
    r = ec2.delete_key_pair(KeyName="kp-del-a")
    assert r["Return"] is True and r["KeyPairId"] == a["KeyPairId"]
    r = ec2.delete_key_pair(KeyPairId=b["KeyPairId"])
    assert r["KeyPairId"] == b["KeyPairId"]
    assert error_code(ec2.describe_key_pairs, KeyNames=["kp-del-a"]) == "InvalidKeyPair.NotFound"
    # Deleting what is not there succeeds, as on EC2.
    assert ec2.delete_key_pair(KeyName="kp-del-a")["Return"] is True
    # The name is free again.
    ec2.create_key_pair(KeyName="kp-del-a", KeyType="ed25519")
    ec2.delete_key_pair(KeyName="kp-del-a")


def test_key_pairs_are_per_account(fort, ec2, key_names):
    key_names.append("kp-mine")
    ec2.create_key_pair(KeyName="kp-mine", KeyType="ed25519")
    from conftest import OTHER_ACCESS_KEY, OTHER_SECRET_KEY
    other = fort.client(access_key=OTHER_ACCESS_KEY, secret_key=OTHER_SECRET_KEY)
    assert error_code(other.describe_key_pairs, KeyNames=["kp-mine"]) == "InvalidKeyPair.NotFound"
    assert "kp-mine" not in [k["KeyName"] for k in other.describe_key_pairs()["KeyPairs"]]


def test_run_instances_needs_a_known_key(ec2, vpc, key_names):
    key_names.append("kp-run")
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.9.0/24")["Subnet"]
    try:
        assert error_code(ec2.run_instances, ImageId="ami-12345678", MinCount=1, MaxCount=1,
                          SubnetId=s["SubnetId"], KeyName="kp-nope") == "InvalidKeyPair.NotFound"
        ec2.create_key_pair(KeyName="kp-run", KeyType="ed25519")
        i = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, SubnetId=s["SubnetId"],
                              KeyName="kp-run")["Instances"][0]
        assert i["KeyName"] == "kp-run"
        got = ec2.describe_instances(Filters=[{"Name": "key-name", "Values": ["kp-run"]}])["Reservations"]
        assert [x["InstanceId"] for r in got for x in r["Instances"]] == [i["InstanceId"]]
        ec2.terminate_instances(InstanceIds=[i["InstanceId"]])
    finally:
        for e in ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [s["SubnetId"]]}])["NetworkInterfaces"]:
            ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
        ec2.delete_subnet(SubnetId=s["SubnetId"])


def test_imported_material_is_kept_as_given(ec2, key_names):
    """DescribeKeyPairs' PublicKey is the material as imported, in its own format; a stray
    character in a key line's base64 (a `\\` left by a line continuation) is skipped."""
    key_names += ["kept-line", "kept-ssh2", "kept-stray"]
    blob = ("AAAAB3NzaC1yc2EAAAADAQABAAABAQDusXfgTE4eBP50NglSzCSEGnIL6+cr6m3H6cZANOQ+P1o/W4BdtcAL3sor4iGi7SOeJgo8"
            "kweyMQrhrt6HaKGgromRiz37LQx4YIAcBi4Zd023mO/V7Rc2Chh18mWgLSmA6ng+j37ip6452zxtv0jHAz9pJolbKBpJzbZlPN45ZC"
            "Tk9ck0fSVHRl6VRSSPQcpqi65XpRf+35zNOCGCc1mAOOTmw59Q2a6A3t8mL7r91aM5q6QOQm219lctFM8O7HRJnDgmhGpnjRwE1Ly"
            "KktWTbgFZ4SNWU2XqusUO07jKuSxzPumXBeU+JEtx0J1tqZwJlpGt2R+0qN7nKnPl2+hx")
    line = f"ssh-rsa {blob} me@example.com"
    ssh2 = "---- BEGIN SSH2 PUBLIC KEY ----\nComment: me@example.com\n" + "\n".join(
        blob[i:i + 70] for i in range(0, len(blob), 70)) + "\n---- END SSH2 PUBLIC KEY ----\n"
    stray = f"ssh-rsa {blob[:100]}\\{blob[100:]} me@example.com"
    prints = set()
    for name, material in [("kept-line", line), ("kept-ssh2", ssh2), ("kept-stray", stray)]:
        prints.add(ec2.import_key_pair(KeyName=name, PublicKeyMaterial=material.encode())["KeyFingerprint"])
        [k] = ec2.describe_key_pairs(KeyNames=[name], IncludePublicKey=True)["KeyPairs"]
        assert k["PublicKey"] == material and k["KeyType"] == "rsa"
    assert prints == {"6a:49:07:1c:7e:bd:d2:bd:96:25:fe:b5:74:83:ae:fd"}


def test_describe_shows_an_empty_tag_set(ec2):
    # EC2's DescribeKeyPairs item carries its tag set even when empty (`"Tags": []`)
    ec2.create_key_pair(KeyName="untagged-key")
    try:
        [k] = ec2.describe_key_pairs(KeyNames=["untagged-key"])["KeyPairs"]
        assert k["Tags"] == []
    finally:
        ec2.delete_key_pair(KeyName="untagged-key")
