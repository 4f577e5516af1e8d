#!/usr/bin/env python3
"""Writes a synthetic AOF of about SIZE bytes (default 1 GiB) to stdout: #TS: stamps every
10000 commands, SET/HSET/RPUSH/INCR traffic over 4 databases with SELECTs and MULTI/EXEC
blocks, and 1% of the commands DELs (the commands the benchmark removes)."""
import sys

size = int(sys.argv[1]) if len(sys.argv) > 1 else 1 << 30
out = sys.stdout.buffer
written = 0
i = 0
ts = 1_700_000_000
val = b"v" * 60


def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


while written < size:
    chunk = []
    for _ in range(10000):
        if i % 10000 == 0:
            ts += 1
            chunk.append(b"#TS:%d\r\n" % ts)
        if i % 2500 == 0:
            chunk.append(cmd(b"SELECT", b"%d" % ((i // 2500) % 4)))
        k = b"key:%d" % (i % 500000)
        r = i % 100
        if r == 0:
            chunk.append(cmd(b"DEL", k))
        elif r < 60:
            chunk.append(cmd(b"SET", k, val))
        elif r < 80:
            chunk.append(cmd(b"HSET", b"h:" + k, b"field", val))
        elif r < 90:
            chunk.append(cmd(b"RPUSH", b"l:" + k, val, val))
        elif r == 90:
            chunk.append(cmd(b"MULTI") + cmd(b"INCR", b"c:" + k) + cmd(b"SET", k, val) + cmd(b"EXEC"))
        else:
            chunk.append(cmd(b"INCR", b"c:" + k))
        i += 1
    b = b"".join(chunk)
    out.write(b)
    written += len(b)
