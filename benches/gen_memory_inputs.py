#!/usr/bin/env python3
"""Writes the workload of benches/memory.sh as RESP commands on stdout (for redis-cli --pipe).

usage: gen_memory_inputs.py SCALE

At SCALE 1: 7 M small strings (`SET s:N`, 16-byte values), 100 k small hashes, sets and
sorted sets, a 500 MB list `biglist` of 1000-byte elements (RPUSH, 100 elements a command,
bytes 0-255 so that text exports must escape them), a 200 MB string `bigstr` of zero bytes
(one SETRANGE), and a few DEL/INCR/EXPIRE.
"""
import random
import sys

out = sys.stdout.buffer


def enc(*args):
    b = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        b.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(b)


def main():
    scale = float(sys.argv[1])
    r = random.Random(7)
    nsmall = int(7_000_000 * scale)
    buf = []
    for i in range(nsmall):
        buf.append(enc(b"SET", b"s:%d" % i, b"v%015d" % i))
        if len(buf) >= 10000:
            out.write(b"".join(buf))
            buf.clear()
    for i in range(int(100_000 * scale)):
        buf.append(enc(b"HSET", b"h:%d" % i, b"f1", b"a", b"f2", b"%d" % i))
        buf.append(enc(b"SADD", b"set:%d" % i, b"x", b"y", b"%d" % i))
        buf.append(enc(b"ZADD", b"z:%d" % i, b"1.5", b"m1", b"%d" % i, b"m2"))
        if i % 100 == 0:
            buf.append(enc(b"DEL", b"s:%d" % i))
            buf.append(enc(b"INCR", b"counter"))
        if len(buf) >= 10000:
            out.write(b"".join(buf))
            buf.clear()
    out.write(b"".join(buf))
    buf.clear()
    elem = 1000
    per_cmd = 100
    nelem = int(500_000_000 * scale) // elem
    block = bytes(range(256)) * 4
    i = 0
    while i < nelem:
        n = min(per_cmd, nelem - i)
        els = [b"%08d" % (i + j) + block[(i + j) % 256:][: elem - 8].ljust(elem - 8, b"-") for j in range(n)]
        out.write(enc(b"RPUSH", b"biglist", *els))
        i += n
    out.write(enc(b"SETRANGE", b"bigstr", int(200_000_000 * scale) - 1, b"x"))
    out.flush()


if __name__ == "__main__":
    main()
