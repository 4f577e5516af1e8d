#!/usr/bin/env python3
"""Runs a command and prints its peak anonymous memory: `mem_peak.py CMD ARG...`.

Polls /proc/PID/status every 20 ms for RssAnon (VmRSS when the kernel has no RssAnon) and
prints one line `PEAK_KB WALL_S EXIT`; the command's stdout goes to /dev/null, its stderr is
kept in $MEM_PEAK_STDERR (default /dev/null). Memory-mapped input pages count in RssFile, not
in RssAnon: the figure is what the command allocated, not the page cache of what it read.
"""
import os
import subprocess
import sys
import time


def rss_anon(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            anon = rss = None
            for line in f:
                if line.startswith("RssAnon:"):
                    anon = int(line.split()[1])
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
            return anon if anon is not None else rss
    except OSError:
        return None


def main():
    cmd = sys.argv[1:]
    err = open(os.environ.get("MEM_PEAK_STDERR", "/dev/null"), "wb")
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    peak = 0
    while p.poll() is None:
        v = rss_anon(p.pid)
        if v is not None and v > peak:
            peak = v
        time.sleep(0.02)
    print(f"{peak} {time.monotonic() - t0:.2f} {p.returncode}")


if __name__ == "__main__":
    main()
