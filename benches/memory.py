#!/usr/bin/env python3
"""Peak RSS of the release server under concurrent large bodies (BENCHMARKS.md, "Memory under
large bodies"). Not a test: a load run whose figures are written down.

Each scenario starts a fresh server (`serve -f config/ --sink null`, default limits), sends N
bodies of SIZE_MIB MiB at once over loopback, waits for every answer, and reads the server's
peak RSS (VmHWM in /proc/PID/status). Scenarios:

- unsigned `[1,1,1,…]` (an array: refused with 400 after one validating scan, never a tree),
  4 and 16 at once;
- unsigned `{"action":"opened","a":[1,1,…]}` (an object: refused with 403 by the github
  interceptor's signature check, never a tree), 4 and 16 at once;
- the same object signed with the development secret, 4 at once: authenticated, so the cel
  filter builds the tree; the peak divided by the bytes in flight is the tree's expansion.

    python3 benches/memory.py                       # SERVER=target/release/eventlistener
    SIZE_MIB=24 PORT=18090 python3 benches/memory.py

Bounded: every request has a 120 s timeout, the server is killed after each scenario, traffic
stays on 127.0.0.1.
"""

import concurrent.futures
import hashlib
import hmac
import http.client
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.environ.get("SERVER", os.path.join(ROOT, "target/release/eventlistener"))
PORT = int(os.environ.get("PORT", "18090"))
SIZE_MIB = int(os.environ.get("SIZE_MIB", "24"))
SECRET = b"chespirito-dev-webhook-secret"


def ones(prefix: bytes, suffix: bytes) -> bytes:
    size = SIZE_MIB * 1024 * 1024
    count = (size - len(prefix) - len(suffix)) // 2
    return prefix + b"1," * (count - 1) + b"1" + suffix


def kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def send(body: bytes, signed: bool) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "pull_request"}
    if signed:
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    try:
        conn.request("POST", "/", body=body, headers=headers)
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


def scenario(name: str, body: bytes, count: int, signed: bool) -> str:
    server = subprocess.Popen(
        [SERVER, "serve", "-f", os.path.join(ROOT, "config"), "--sink", "null",
         "--address", f"127.0.0.1:{PORT}", "--metrics-address", "127.0.0.1:0"],
        stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"})
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
                conn.request("GET", "/ready")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                sys.exit("memory: the server never became ready")
            time.sleep(0.05)
        idle = kb(server.pid, "VmHWM")
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            statuses = list(pool.map(lambda _: send(body, signed), range(count)))
        peak = kb(server.pid, "VmHWM")
        tally = ", ".join(f"{statuses.count(s)}× {s}" for s in sorted(set(statuses)))
        in_flight = sum(1 for s in statuses if s != 503) * len(body) / 1024 / 1024
        return (f"| {name} | {count} | {tally} | {idle / 1024:.1f} | {peak / 1024:.1f} | "
                f"{(peak - idle) / 1024 / max(in_flight, 1):.2f} |")
    finally:
        server.kill()
        server.wait(timeout=10)


def main() -> None:
    array = ones(b"[", b"]")
    obj = ones(b'{"action":"opened","a":[', b"]}")
    rows = [
        scenario("unsigned array", array, 4, False),
        scenario("unsigned array", array, 16, False),
        scenario("unsigned object", obj, 4, False),
        scenario("unsigned object", obj, 16, False),
        scenario("signed object", obj, 4, True),
    ]
    print(f"memory run {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}: {os.cpu_count()} cores, "
          f"{SIZE_MIB} MiB bodies, server {SERVER}")
    print()
    print("| body | at once | answers | RSS before MB | peak RSS MB | (peak − before) / MiB admitted |")
    print("|---|---:|---|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
