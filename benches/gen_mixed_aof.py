#!/usr/bin/env python3
"""Writes an AOF of mixed commands for benchmarks: SET/HSET/ZADD/RPUSH/SADD/INCR/DEL/PEXPIREAT
with keys and values of varied sizes (including binary values), SELECT, MULTI/EXEC blocks and a
#TS: annotation per block, the way Redis 7 writes them.

usage: gen_mixed_aof.py OUT SIZE_MB [SEED]
"""
import random
import sys


def enc(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def block(r, nbytes):
    cmds = []
    size = 0
    db = 0
    while size < nbytes:
        c = r.random()
        k = b"key:%d" % r.randint(0, 10**7)
        if r.random() < 0.01:
            db = r.randint(0, 3)
            cmds.append(enc([b"SELECT", b"%d" % db]))
        if c < 0.35:
            v = r.randbytes(r.choice([8, 16, 32, 64, 100, 300, 1000]))
            cmds.append(enc([b"SET", k, v]))
        elif c < 0.5:
            cmds.append(enc([b"HSET", b"h:" + k, b"f%d" % r.randint(0, 50), b"%d" % r.randint(0, 10**9)]))
        elif c < 0.6:
            cmds.append(enc([b"ZADD", b"z:" + k, b"%.17g" % r.uniform(-1e6, 1e6), b"m%d" % r.randint(0, 10**6)]))
        elif c < 0.7:
            cmds.append(enc([b"RPUSH", b"l:" + k] + [b"e%d" % r.randint(0, 999) for _ in range(r.randint(1, 5))]))
        elif c < 0.78:
            cmds.append(enc([b"SADD", b"s:" + k, b"%d" % r.randint(0, 10**6)]))
        elif c < 0.85:
            cmds.append(enc([b"INCR", b"c:" + k]))
        elif c < 0.9:
            cmds.append(enc([b"PEXPIREAT", k, b"%d" % (4102444800000 + r.randint(0, 10**6))]))
        elif c < 0.95:
            cmds.append(enc([b"DEL", k]))
        else:
            cmds.append(enc([b"MULTI"]))
            for _ in range(r.randint(2, 5)):
                cmds.append(enc([b"SET", b"t:" + k, r.randbytes(24)]))
            cmds.append(enc([b"EXEC"]))
        size += len(cmds[-1])
    return b"".join(cmds)


def main():
    out, mb = sys.argv[1], int(sys.argv[2])
    r = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    blocks = [block(r, 1 << 20) for _ in range(16)]
    ts = 1700000000
    written = 0
    with open(out, "wb") as f:
        while written < mb << 20:
            ann = b"#TS:%d\r\n" % ts
            ts += 1
            b = blocks[r.randrange(len(blocks))]
            f.write(ann)
            f.write(b)
            written += len(ann) + len(b)


if __name__ == "__main__":
    main()
