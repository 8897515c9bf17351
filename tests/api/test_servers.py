"""Several servers side by side: the mapping port follows the API port unless given."""

import socket

from conftest import Fort


def two_free_ports():
    """A port P with P + 1 free too (the default mapping port follows the API's)."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            p = a.getsockname()[1]
            if p >= 65535:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", p + 1))
                except OSError:
                    continue
            return p
    raise RuntimeError("no two adjacent free ports")


def log_of(f):
    f.log.flush()
    with open(f"{f.data_dir}/server.log", encoding="utf-8", errors="replace") as log:
        return log.read()


def test_servers_side_by_side_need_only_listen():
    p, q = two_free_ports(), None
    while q is None or abs(q - p) < 2:
        q = two_free_ports()
    a = Fort(port=p, mapping_listen=None)
    try:
        b = Fort(port=q, mapping_listen=None)
        try:
            for f in (a, b):
                assert f.client().describe_vpcs()["Vpcs"], "each has its default VPC"
                assert f"mapping:       http://127.0.0.1:{f.port + 1}" in log_of(f)
            # the mapping service is really there, next to the API
            socket.create_connection(("127.0.0.1", p + 1), timeout=2).close()
        finally:
            b.close()
    finally:
        a.close()


def test_an_emulator_comes_up_when_the_next_port_is_taken():
    p = two_free_ports()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", p + 1))
        taken.listen()
        f = Fort(port=p, mapping_listen=None)
        try:
            assert f.client().describe_vpcs()["Vpcs"]
            assert "no mapping service" in log_of(f)
        finally:
            f.close()
