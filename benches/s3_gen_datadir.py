#!/usr/bin/env python3
"""Writes a Redis 7 data directory with a multi-part AOF of about SIZE bytes (default 1 GiB):
DIR/appendonlydir/{appendonly.aof.1.base.aof, appendonly.aof.1.incr.aof, appendonly.aof.manifest}.
The INCR file holds SET/HSET/RPUSH/INCR traffic with a #TS: stamp every 5000 commands and a
MULTI/EXEC block now and then. Values are half random hex, half repeated text, so zstd sees
data about as compressible as typical Redis values (ratio ~2-3), not a best case.

usage: s3_gen_datadir.py DIR [SIZE]"""
import os
import sys

d = sys.argv[1]
size = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 30
aof = os.path.join(d, "appendonlydir")
os.makedirs(aof, exist_ok=True)


def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


ts = 1_700_000_000
with open(os.path.join(aof, "appendonly.aof.1.base.aof"), "wb") as f:
    f.write(b"#TS:%d\r\n" % ts)
    f.write(cmd(b"SET", b"base", b"1"))
with open(os.path.join(aof, "appendonly.aof.manifest"), "wb") as f:
    f.write(b"file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n")
text = b"user profile: name=example, plan=pro, region=eu-west-1; " * 4
written = 0
i = 0
with open(os.path.join(aof, "appendonly.aof.1.incr.aof"), "wb") as f:
    while written < size:
        chunk = []
        rnd = os.urandom(5000 * 48).hex().encode()
        for j in range(5000):
            if i % 5000 == 0:
                ts += 1
                chunk.append(b"#TS:%d\r\n" % ts)
            v = rnd[j * 96:(j + 1) * 96] + text[: 40 + (i % 160)]
            k = b"key:%d" % (i % 1_000_000)
            m = i % 10
            if m < 6:
                chunk.append(cmd(b"SET", k, v))
            elif m < 8:
                chunk.append(cmd(b"HSET", b"h:%d" % (i % 10000), b"f%d" % (i % 97), v))
            elif m < 9:
                chunk.append(cmd(b"RPUSH", b"l:%d" % (i % 1000), v[:64]))
            elif i % 1000 == 9:
                chunk.append(cmd(b"MULTI") + cmd(b"INCR", b"c") + cmd(b"SET", k, v) + cmd(b"EXEC"))
            else:
                chunk.append(cmd(b"INCR", b"c:%d" % (i % 100)))
            i += 1
        b = b"".join(chunk)
        f.write(b)
        written += len(b)
