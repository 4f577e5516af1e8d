#!/usr/bin/env python3
"""Generate src/aof/keys_table.rs (the key specs of every Redis command) and
tests/aof_filter_keys_samples.jsonl (sample argvs for the key-extraction test) from a live
redis-server, using `COMMAND` (key specs) and `COMMAND DOCS` (argument shapes).

Usage: scripts/gen_aof_keys.py [redis-server binary]   (run from the repository root)

The table is the authoritative one of the installed server (7.0.15 when generated). The
samples are minimal argvs built from the argument docs (every `multiple` argument twice,
numkeys set accordingly) plus hand-written ones for the special commands; the test
(tests/aof_filter_keys.rs) compares our extraction with `COMMAND GETKEYS` on a live server.
"""
import json, os, socket, subprocess, sys, tempfile, time

SERVER = sys.argv[1] if len(sys.argv) > 1 else "redis-server"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cli(port, *args):
    out = subprocess.run(["redis-cli", "-p", str(port), "--json", *args],
                         capture_output=True, check=True).stdout
    return json.loads(out)


def getkeys(port, argv):
    r = subprocess.run(["redis-cli", "-p", str(port), "--json", "COMMAND", "GETKEYS", *argv],
                       capture_output=True)
    txt = r.stdout.decode().strip()
    if txt.startswith("[") or txt.startswith("{"):
        return json.loads(txt)
    return None  # error (no keys / invalid)


def spec_rs(ks):
    flags = ks.get("flags", [])
    bs = ks["begin_search"]
    fk = ks["find_keys"]
    if bs["type"] == "index":
        b = "Begin::Index(%d)" % bs["spec"]["index"]
    elif bs["type"] == "keyword":
        b = "Begin::Keyword(b\"%s\", %d)" % (bs["spec"]["keyword"], bs["spec"]["startfrom"])
    else:
        b = "Begin::Unknown"
    if fk["type"] == "range":
        s = fk["spec"]
        f = "Find::Range { last: %d, step: %d, limit: %d }" % (s["lastkey"], s["keystep"], s["limit"])
    elif fk["type"] == "keynum":
        s = fk["spec"]
        f = "Find::Keynum { idx: %d, first: %d, step: %d }" % (s["keynumidx"], s["firstkey"], s["keystep"])
    else:
        f = "Find::Unknown"
    inc = "true" if "incomplete" in flags else "false"
    nk = "true" if "not_key" in flags else "false"
    return "KeySpec { begin: %s, find: %s, incomplete: %s, not_key: %s }" % (b, f, inc, nk)


def cmd_rs(c, indent):
    name, arity, flags = c[0], c[1], c[2]
    specs = c[8] if len(c) > 8 else []
    subs = c[9] if len(c) > 9 else []
    pad = " " * indent
    short = name.split("|")[-1]
    out = pad + "CommandSpec {\n"
    out += pad + "    name: b\"%s\",\n" % short
    out += pad + "    arity: %d,\n" % arity
    out += pad + "    write: %s,\n" % ("true" if "write" in flags else "false")
    out += pad + "    movable: %s,\n" % ("true" if "movablekeys" in flags else "false")
    out += pad + "    specs: &[%s],\n" % ", ".join(spec_rs(k) for k in specs)
    if subs:
        out += pad + "    subcommands: &[\n"
        for s in sorted(subs, key=lambda s: s[0]):
            out += cmd_rs(s, indent + 8)
        out += pad + "    ],\n"
    else:
        out += pad + "    subcommands: &[],\n"
    out += pad + "},\n"
    return out


def build(args, ctx):
    """Minimal argv for a list of doc arguments; every `multiple` twice."""
    out = []
    for i, a in enumerate(args):
        fl = a.get("flags", [])
        if "optional" in fl:
            continue
        reps = 2 if "multiple" in fl else 1
        for _ in range(reps):
            if "token" in a and a["type"] != "pure-token":
                out.append(a["token"])
            t = a["type"]
            if t == "key":
                ctx["n"] += 1
                out.append("key%d" % ctx["n"])
            elif t == "integer":
                nxt = args[i + 1] if i + 1 < len(args) else None
                if a["name"] in ("numkeys", "numdests", "count") and nxt and "multiple" in nxt.get("flags", []):
                    out.append("2")
                else:
                    out.append("1")
            elif t == "double":
                out.append("1.5")
            elif t == "unix-time":
                out.append("1700000000")
            elif t == "pattern":
                out.append("*")
            elif t == "pure-token":
                out.append(a["token"])
            elif t == "oneof":
                out.extend(build(a["arguments"][:1], ctx))
            elif t == "block":
                # a multiple block: build once per repetition
                out.extend(build(a["arguments"], ctx))
            else:
                out.append("s")
    return out


EXTRA = [
    ["SORT", "k", "BY", "w*", "LIMIT", "0", "1", "GET", "#", "STORE", "dst"],
    ["SORT", "k", "STORE", "dst", "ALPHA"],
    ["SORT_RO", "k", "ALPHA"],
    ["MIGRATE", "127.0.0.1", "1", "k", "0", "5"],
    ["MIGRATE", "127.0.0.1", "1", "", "0", "5", "COPY", "KEYS", "a", "b", "c"],
    ["MIGRATE", "127.0.0.1", "1", "", "0", "5", "AUTH", "p", "KEYS", "a"],
    ["EVAL", "return 1", "2", "a", "b", "x"],
    ["EVAL", "return 1", "0"],
    ["EVALSHA", "abc", "1", "a", "x", "y"],
    ["EVAL_RO", "return 1", "1", "a"],
    ["FCALL", "f", "2", "a", "b"],
    ["FCALL_RO", "f", "1", "a", "b"],
    ["ZUNIONSTORE", "d", "3", "a", "b", "c", "WEIGHTS", "1", "2", "3"],
    ["ZINTERSTORE", "d", "1", "a", "AGGREGATE", "MAX"],
    ["ZDIFFSTORE", "d", "2", "a", "b"],
    ["ZUNION", "2", "a", "b", "WITHSCORES"],
    ["ZINTERCARD", "2", "a", "b", "LIMIT", "1"],
    ["SINTERCARD", "3", "a", "b", "c"],
    ["XREAD", "COUNT", "2", "STREAMS", "a", "b", "0", "0"],
    ["XREAD", "BLOCK", "0", "STREAMS", "a", "$"],
    ["XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "a", "b", ">", ">"],
    ["BITOP", "AND", "d", "a", "b", "c"],
    ["BITOP", "NOT", "d", "a"],
    ["LMPOP", "2", "a", "b", "LEFT", "COUNT", "3"],
    ["BLMPOP", "0", "3", "a", "b", "c", "RIGHT"],
    ["ZMPOP", "1", "a", "MIN"],
    ["BZMPOP", "0", "2", "a", "b", "MAX", "COUNT", "2"],
    ["MSET", "a", "1", "b", "2", "c", "3"],
    ["MSETNX", "a", "1", "b", "2"],
    ["MGET", "a", "b", "c"],
    ["DEL", "a", "b", "c"],
    ["UNLINK", "a"],
    ["RENAME", "a", "b"],
    ["COPY", "a", "b", "DB", "3", "REPLACE"],
    ["MOVE", "a", "2"],
    ["SMOVE", "a", "b", "m"],
    ["LMOVE", "a", "b", "LEFT", "RIGHT"],
    ["RPOPLPUSH", "a", "b"],
    ["BLPOP", "a", "b", "0"],
    ["BRPOPLPUSH", "a", "b", "0"],
    ["GEORADIUS", "g", "1", "2", "3", "km", "STORE", "d"],
    ["GEORADIUS", "g", "1", "2", "3", "km", "STOREDIST", "d"],
    ["GEORADIUSBYMEMBER", "g", "m", "3", "km", "STORE", "d"],
    ["GEOSEARCHSTORE", "d", "s", "FROMMEMBER", "m", "BYRADIUS", "1", "km"],
    ["SET", "a", "v", "PXAT", "1700000000000"],
    ["SET", "a", "v", "GET"],
    ["BITFIELD", "a", "SET", "u8", "0", "1"],
    ["PFMERGE", "d", "a", "b"],
    ["PFCOUNT", "a", "b"],
    ["SUNIONSTORE", "d", "a", "b"],
    ["OBJECT", "ENCODING", "a"],
    ["MEMORY", "USAGE", "a"],
    ["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"],
    ["XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "3"],
    ["XGROUP", "CREATECONSUMER", "s", "g", "c"],
    ["XCLAIM", "s", "g", "c", "0", "1-1", "TIME", "1", "RETRYCOUNT", "1", "FORCE", "JUSTID", "LASTID", "1-1"],
    ["XSETID", "s", "1-1", "ENTRIESADDED", "1", "MAXDELETEDID", "0-0"],
    ["WATCH", "a", "b"],
    ["EXISTS", "a", "b", "a"],
    ["TOUCH", "a", "b"],
    ["RESTORE", "a", "0", "x", "ABSTTL"],
    ["PEXPIREAT", "a", "1700000000000"],
    ["HPEXPIREAT", "a", "1700000000000", "FIELDS", "1", "f"],
    ["LCS", "a", "b"],
    ["BLMOVE", "a", "b", "LEFT", "LEFT", "0"],
    ["FLUSHALL"], ["FLUSHDB", "ASYNC"], ["SWAPDB", "0", "1"], ["SELECT", "1"],
    ["MULTI"], ["EXEC"], ["FUNCTION", "LOAD", "x"], ["FUNCTION", "FLUSH"],
    ["PUBLISH", "c", "m"], ["SCRIPT", "FLUSH"], ["PING"],
]


def main():
    tmp = tempfile.mkdtemp()
    port = free_port()
    proc = subprocess.Popen([SERVER, "--port", str(port), "--save", "", "--appendonly", "no",
                             "--dir", tmp], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.05)
        info = subprocess.run(["redis-cli", "-p", str(port), "INFO", "server"],
                              capture_output=True, check=True).stdout.decode()
        ver = [l for l in info.splitlines() if l.startswith("redis_version:")][0].split(":")[1].strip()
        cmds = sorted(cli(port, "COMMAND"), key=lambda c: c[0])
        docs = cli(port, "COMMAND", "DOCS")
        rs = "// @generated by scripts/gen_aof_keys.py from redis-server %s (`COMMAND`).\n" % ver
        rs += "// Do not edit by hand: re-run the script.\n\n"
        rs += "use super::{Begin, CommandSpec, Find, KeySpec};\n\n"
        rs += "/// Version of the server the table was generated from.\n"
        rs += "pub const TABLE_VERSION: &str = \"%s\";\n\n" % ver
        rs += "/// Every command of that server, sorted by lower-case name.\n"
        rs += "pub static COMMANDS: &[CommandSpec] = &[\n"
        for c in cmds:
            rs += cmd_rs(c, 4)
        rs += "];\n"
        open("src/aof/keys_table.rs", "w").write(rs)

        samples = []
        for name in sorted(docs):
            d = docs[name]
            if "subcommands" in d:
                for sub in sorted(d["subcommands"]):
                    sd = d["subcommands"][sub]
                    argv = sub.upper().split("|") + build(sd.get("arguments", []), {"n": 0})
                    samples.append(argv)
            else:
                samples.append([name.upper()] + build(d.get("arguments", []), {"n": 0}))
        samples += EXTRA
        with open("tests/aof_filter_keys_samples.jsonl", "w") as f:
            ok = 0
            for argv in samples:
                keys = getkeys(port, argv)
                if keys is not None:
                    ok += 1
                f.write(json.dumps(argv) + "\n")
        print("%d commands, %d samples (%d with keys per GETKEYS)" % (len(cmds), len(samples), ok))
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
