"""Probe for the kernel-fault tests, run by exec suites inside a fresh network namespace.

  netprobe.py rtt [wait-netem]   median TCP connect time to a listener on 127.0.0.1, in ms
  netprobe.py blocked|open       whether 127.0.0.2 answers a connect within 1 s; exit 0
                                 when that is what was expected

`wait-netem` and `blocked` first wait (up to 10 s) until the agent's fault is in place, by
reading `tc` / `iptables`, so that no sleep orders the probe after the fault."""
import socket
import subprocess
import sys
import time


def wait_for(cmd, needle):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = subprocess.run(cmd, capture_output=True, text=True).stdout
        if needle in out:
            return True
        time.sleep(0.05)
    return False


def rtt():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    times = []
    for _ in range(5):
        c = socket.socket()
        t = time.monotonic()
        c.connect(srv.getsockname())
        times.append((time.monotonic() - t) * 1000)
        c.close()
        srv.accept()[0].close()
    times.sort()
    return times[2]


def reachable():
    srv = socket.socket()
    srv.bind(("127.0.0.2", 0))
    srv.listen(1)
    c = socket.socket()
    c.settimeout(1)
    try:
        c.connect(srv.getsockname())
        return True
    except OSError:
        return False


mode = sys.argv[1]
if mode == "rtt":
    if sys.argv[2:] == ["wait-netem"]:
        print("netem in place" if wait_for(["tc", "qdisc", "show", "dev", "lo"], "netem") else "no netem qdisc")
    print(f"rtt_ms={rtt():.3f}")
    print("qdisc:", subprocess.run(["tc", "qdisc", "show", "dev", "lo"], capture_output=True, text=True).stdout.strip())
elif mode == "blocked":
    if not wait_for(["iptables", "-S", "OUTPUT"], "testcar-fault"):
        print("no testcar-fault rule appeared")
        sys.exit(1)
    up = reachable()
    print("open" if up else "blocked")
    sys.exit(1 if up else 0)
elif mode == "open":
    rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
    up = reachable()
    print("open" if up else "blocked", "rules left" if "testcar-fault" in rules else "no rules left")
    sys.exit(0 if up and "testcar-fault" not in rules else 1)
