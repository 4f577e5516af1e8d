#!/usr/bin/env python3
"""Writes RESP commands for the issue-2 benchmark datasets to stdout (for `redis-cli --pipe`).

usage: gen_rdb_bench.py small|big

small: ~3.4 M small collections (listpack/intset hashes, sets, zsets, lists) + a few thousand
       1000-field hashes (the 3 M ~40-byte strings come from DEBUG POPULATE).
big:   the same collections at a quarter of the count (the 5 M 120-byte strings come from
       DEBUG POPULATE with rdbcompression no).
"""
import random
import sys

out = sys.stdout.buffer
random.seed(42)


def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    out.write(b"".join(parts))


def main():
    mode = sys.argv[1]
    scale = 1 if mode == "small" else 4
    n = 850_000 // scale
    for i in range(n):
        k = "h:%d" % i
        args = ["HSET", k]
        for f in range(random.randint(2, 8)):
            args += ["field%d" % f, "value-%d-%d" % (i, f)]
        cmd(*args)
    for i in range(n):
        args = ["SADD", "si:%d" % i] + [random.randint(0, 1 << 40) for _ in range(random.randint(2, 10))]
        cmd(*args)
    for i in range(n):
        args = ["SADD", "ss:%d" % i] + ["member-%d" % random.randint(0, 10**9) for _ in range(random.randint(2, 8))]
        cmd(*args)
    for i in range(n):
        args = ["ZADD", "z:%d" % i]
        for j in range(random.randint(2, 8)):
            args += [random.random() * 1000, "m%d" % j]
        cmd(*args)
    for i in range(n // 2):
        args = ["RPUSH", "l:%d" % i] + ["item-%d" % j for j in range(random.randint(2, 12))]
        cmd(*args)
    for i in range(3000 // scale):
        args = ["HSET", "big:%d" % i]
        for f in range(1000):
            args += ["f%d" % f, "v%d" % random.randint(0, 10**6)]
        cmd(*args)


main()
