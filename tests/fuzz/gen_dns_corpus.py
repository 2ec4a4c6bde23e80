#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_dns into tests/fuzz/corpus/dns/.

Small DNS answers, good and hostile: the fuzzer mutates from these.
Run again after changing it; the files are committed.
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "dns")
A, CNAME, AAAA = 1, 5, 28
QR = 0x8180


def name(n, ptr=None):
    b = b"".join(bytes([len(l)]) + l.encode() for l in n.split(".") if l)
    return b + (struct.pack(">H", 0xC000 | ptr) if ptr is not None else b"\0")


def header(id_, flags, qd, an, ns=0, ar=0):
    return struct.pack(">HHHHHH", id_, flags, qd, an, ns, ar)


def question(n, t):
    return name(n) + struct.pack(">HH", t, 1)


def rr(owner, t, ttl, rdata):
    return owner + struct.pack(">HHIH", t, 1, ttl, len(rdata)) + rdata


def ptr(off):
    return struct.pack(">H", 0xC000 | off)


V6 = bytes([0x20, 0x01, 0x0D, 0xB8] + [0] * 11 + [1])
seeds = {}

seeds["a_two"] = (header(0x1234, QR, 1, 2) + question("example.com", A)
                  + rr(ptr(12), A, 300, bytes([192, 0, 2, 1]))
                  + rr(ptr(12), A, 60, bytes([192, 0, 2, 2])))
seeds["aaaa"] = (header(0x4321, QR, 1, 1) + question("example.com", AAAA)
                 + rr(ptr(12), AAAA, 300, V6))
# www.example.com CNAME edge.cdn.net (at 45) CNAME host.cdn.net, A
q = header(7, QR, 1, 3) + question("www.example.com", A)
c1 = q + rr(ptr(12), CNAME, 500, name("edge.cdn.net"))
c2_at = len(c1) + 12
c2 = c1 + rr(ptr(45), CNAME, 400, name("host", ptr=50))
seeds["cname_chain"] = c2 + rr(ptr(c2_at), A, 200, bytes([198, 51, 100, 7]))
seeds["cname_aaaa"] = (header(8, QR, 1, 2) + question("www.example.com", AAAA)
                       + rr(ptr(12), CNAME, 50, name("v6", ptr=16))
                       + rr(ptr(45), AAAA, 30, V6))
# a.example.com <-> www.example.com
seeds["cname_loop"] = (header(9, QR, 1, 2) + question("www.example.com", A)
                       + rr(ptr(12), CNAME, 5, name("a", ptr=16))
                       + rr(ptr(45), CNAME, 5, ptr(12)))
seeds["nxdomain"] = header(10, QR | 3, 1, 0) + question("example.com", A)
seeds["servfail"] = header(11, QR | 2, 1, 0) + question("example.com", AAAA)
seeds["truncated_tc"] = (header(12, QR | 0x200, 1, 1) + question("example.com", A)
                         + rr(ptr(12), A, 5, bytes([1, 2, 3, 4])))
seeds["nodata"] = (header(13, QR, 1, 0, 1) + question("www.example.com", AAAA)
                   + rr(ptr(16), 6, 60, name("ns", ptr=16) + name("h", ptr=16)
                        + bytes(20)))
ok = seeds["a_two"]
seeds["cut_in_record"] = ok[:-7]
seeds["cut_in_question"] = ok[:20]
seeds["self_pointer"] = (header(14, QR, 1, 1) + question("example.com", A)
                         + rr(ptr(29), A, 5, bytes(4)))
seeds["forward_pointer"] = (header(15, QR, 1, 2) + question("example.com", A)
                            + rr(ptr(45), A, 5, bytes(4))
                            + rr(ptr(12), A, 5, bytes(4)))
seeds["pointer_ping_pong"] = (header(16, QR, 1, 1) + question("example.com", A)
                              + b"\x01x" + ptr(29) + struct.pack(">HHIH", A, 1, 5, 4)
                              + bytes(4))
seeds["counts_too_big"] = ok[:4] + struct.pack(">HHHH", 1, 0xFFFF, 0xFFFF, 0xFFFF) + ok[12:]
seeds["rdlength_mismatch"] = (header(17, QR, 1, 1) + question("example.com", A)
                              + ptr(12) + struct.pack(">HHIH", A, 1, 5, 5) + bytes(5))
seeds["long_name"] = (header(18, QR, 1, 1) + question("example.com", A)
                      + b"".join(b"\x3f" + b"a" * 63 for _ in range(5)) + b"\0"
                      + struct.pack(">HHIH", A, 1, 5, 4) + bytes(4))
seeds["many_a"] = (header(19, QR, 1, 20) + question("example.com", A)
                   + b"".join(rr(ptr(12), A, 100 - i, bytes([10, 0, 0, i]))
                              for i in range(20)))

os.makedirs(OUT, exist_ok=True)
for k, v in sorted(seeds.items()):
    with open(os.path.join(OUT, k + ".bin"), "wb") as f:
        f.write(v)
print(f"{len(seeds)} seeds in {OUT}")
