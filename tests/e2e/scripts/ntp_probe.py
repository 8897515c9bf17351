#!/usr/bin/env python3
"""A raw NTP client for the time sync tests, run inside an instance's namespace. It only
reads answers: it never sets a clock.

  ntp_probe.py ADDRESS query     one client request (version 4): the answer's fields, JSON
  ntp_probe.py ADDRESS refused   a control query (mode 6), a monlist request (mode 7), a
                                 symmetric-active packet (mode 1), a short datagram and a
                                 version-0 request: how many got any answer (JSON)
  ntp_probe.py ADDRESS latency N   N requests one at a time: round trip p50 and p99 (JSON)
  ntp_probe.py ADDRESS window N S  N requests, 32 in flight, bounded by S seconds: sent,
                                   answered and elapsed (JSON)
  ntp_probe.py ADDRESS flood R S   R requests a second for S seconds: sent, answered
                                   (late answers too), the seconds spent sending (JSON)
"""

import json
import socket
import struct
import sys
import time

NTP_UNIX = 2208988800


def now_ntp():
    t = time.time()
    return int(t) + NTP_UNIX, int((t % 1) * (1 << 32))


def request(version=4, mode=3, poll=6):
    s, f = now_ntp()
    return bytes([version << 3 | mode, 0, poll, 0]) + bytes(36) + struct.pack("!II", s, f)


def ts(b):
    s, f = struct.unpack("!II", b)
    return s - NTP_UNIX + f / (1 << 32)


def sock(addr):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    return socket.socket(family, socket.SOCK_DGRAM)


def query(addr):
    s = sock(addr)
    s.settimeout(3)
    q = request()
    t1 = time.time()
    s.sendto(q, (addr, 123))
    a, peer = s.recvfrom(512)
    t4 = time.time()
    t2, t3 = ts(a[32:40]), ts(a[40:48])
    return {
        "length": len(a),
        "leap": a[0] >> 6,
        "version": a[0] >> 3 & 7,
        "mode": a[0] & 7,
        "stratum": a[1],
        "poll": struct.unpack("!b", a[2:3])[0],
        "precision": struct.unpack("!b", a[3:4])[0],
        "reference_id": socket.inet_ntoa(a[12:16]),
        "origin_echoed": a[24:32] == q[40:48],
        "from": peer[0],
        "offset": ((t2 - t1) + (t3 - t4)) / 2,
        "delay": (t4 - t1) - (t3 - t2),
    }


def refused(addr):
    s = sock(addr)
    s.settimeout(0.5)
    readvar = bytes([0x16, 0x02, 0, 1]) + bytes(8)
    monlist = bytes([0x17, 0x00, 0x03, 0x2A]) + bytes(44)
    probes = [readvar, monlist, request(mode=1), request()[:20], request(version=0)]
    answered = 0
    for p in probes:
        s.sendto(p, (addr, 123))
        try:
            s.recvfrom(512)
            answered += 1
        except socket.timeout:
            pass
    return {"sent": len(probes), "answered": answered}


def latency(addr, n):
    """n requests one at a time: each round trip in microseconds (p50, p99), and losses."""
    s = sock(addr)
    s.settimeout(1)
    times, lost = [], 0
    for _ in range(n):
        t = time.perf_counter()
        s.sendto(request(), (addr, 123))
        try:
            s.recvfrom(512)
            times.append((time.perf_counter() - t) * 1e6)
        except socket.timeout:
            lost += 1
    times.sort()
    pick = lambda p: times[min(len(times) - 1, int(len(times) * p))] if times else None  # noqa: E731
    return {"p50_us": pick(0.5), "p99_us": pick(0.99), "lost": lost}


def window(addr, n, seconds):
    """Up to n requests with at most 32 in flight, within `seconds`: the answers a second
    the server gives (a request unanswered for 100 ms counts as lost)."""
    s = sock(addr)
    s.setblocking(False)
    q = request()
    sent = answered = 0
    start = last = time.time()
    deadline = start + seconds
    while time.time() < deadline and answered < n:
        while sent < n and sent - answered < 32:
            try:
                s.sendto(q, (addr, 123))
                sent += 1
            except BlockingIOError:
                break
        got = False
        try:
            while True:
                s.recvfrom(512)
                answered += 1
                got = True
        except BlockingIOError:
            pass
        if got:
            last = time.time()
        elif time.time() - last > 0.1:
            sent = answered  # the ones in flight are lost
            last = time.time()
    return {"sent": n, "answered": answered, "elapsed": time.time() - start}


def flood(addr, per_second, seconds):
    """Requests at `per_second` for `seconds`, answers counted as they come."""
    s = sock(addr)
    s.setblocking(False)
    q = request()
    sent = answered = 0
    start = time.time()
    while time.time() < start + seconds:
        due = int((time.time() - start) * per_second)
        while sent < due:
            try:
                s.sendto(q, (addr, 123))
                sent += 1
            except BlockingIOError:
                break
        try:
            while True:
                s.recvfrom(512)
                answered += 1
        except BlockingIOError:
            pass
        time.sleep(0.0002)
    sending = time.time() - start
    s.settimeout(0.3)
    try:
        while True:
            s.recvfrom(512)
            answered += 1
    except (socket.timeout, BlockingIOError):
        pass
    return {"sent": sent, "answered": answered, "elapsed": sending}


def main():
    addr, what = sys.argv[1], sys.argv[2]
    if what == "query":
        out = query(addr)
    elif what == "refused":
        out = refused(addr)
    elif what == "latency":
        out = latency(addr, int(sys.argv[3]))
    elif what == "window":
        out = window(addr, int(sys.argv[3]), float(sys.argv[4]))
    else:
        out = flood(addr, int(sys.argv[3]), float(sys.argv[4]))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
