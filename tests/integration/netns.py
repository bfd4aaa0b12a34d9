"""Shaped networks for rtmpd's integration tests: a network namespace joined
to the root namespace by a veth pair, optionally rate-limited with tc.

    root namespace                          namespace NAME
    rtmpd listens on host_ip  <-- veth -->  players connect from peer_ip
    (host_if: egress shaped by tbf)         (peer_if)

Server -> player traffic leaves the root namespace through `host_if`, so a
tbf qdisc on `host_if`'s egress is the player's downlink: exactly what a
player behind a slow network looks like to the server (its TCP sees real
queueing, acknowledgement clocking and RTT). Player -> server traffic is
not shaped.

Usage:

    with NetNS("s") as ns:                    # creates, and always cleans up
        ns.shape("1.2mbit")                   # tbf on the server's egress
        srv = Server(..., extra_args=["-l", "%s:0" % ns.host_ip])
        p = ns.popen(["ffmpeg", "-i", "rtmp://%s:%d/live/x" % (ns.host_ip, port), ...])
        c = ns.call(lambda: rtmp_client.Client(ns.host_ip, port))  # socket in the ns
        ns.unshape()

Names are unique per process and tag: namespace "rtmpdt-<pid>-<tag>",
interfaces "rtv<pid><tag>a" (root side) and "...b" (namespace side), and a
10.128.0.0/13 /30 subnet derived from the pid (the next free one when that
is taken), so tests running in parallel never collide. Everything created
is deleted by destroy(), called by the context manager, by an atexit hook
and on SIGTERM/SIGHUP (which this module turns into SystemExit so that
finally blocks and atexit run). Only what this process created is ever
deleted. A test killed with SIGKILL (a ctest timeout) cannot clean up:
`python3 netns.py` lists what such runs left behind (namespaces whose
creating process is gone) and `python3 netns.py --delete` deletes it.

Requires root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2 (ip, tc).
When a namespace cannot be created the error is raised as NetNSError (a
harness.TestFailure) with the command's message: tests fail with it, they
never skip.
"""

import atexit
import ctypes
import ipaddress
import os
import signal
import subprocess
import threading

CLONE_NEWNET = 0x40000000
SUBNET_BASE = int(ipaddress.IPv4Address("10.128.0.0"))
SUBNET_BLOCKS = 1 << 17  # /30 blocks in 10.128.0.0/13


try:
    from harness import TestFailure as _Base  # a failed test, not a crash
except ImportError:
    _Base = Exception


class NetNSError(_Base):
    pass


_live = []          # NetNS objects not yet destroyed
_lock = threading.Lock()
_hooks_installed = False


def _run(cmd, check=True):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=20)
    if check and r.returncode != 0:
        raise NetNSError("`%s` failed (exit %d): %s" % (" ".join(cmd), r.returncode,
                                                        (r.stderr or r.stdout).strip()))
    return r


def _destroy_all():
    for ns in list(_live):
        ns.destroy()


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


def _install_hooks():
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_destroy_all)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, _on_signal)


def _used_ipv4():
    """Every IPv4 address configured in the root namespace."""
    out = _run(["ip", "-4", "-o", "addr", "show"], check=False).stdout
    used = set()
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            used.add(parts[parts.index("inet") + 1].split("/")[0])
    return used


_libc = None


def _setns(fd):
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: %s" % os.strerror(e))


class NetNS:
    """One namespace and its veth pair. `tag`: up to 3 characters [a-z0-9]
    that tell several namespaces of one test apart."""

    def __init__(self, tag="a"):
        if not tag.isalnum() or len(tag) > 3:
            raise ValueError("tag must be 1..3 alphanumerics")
        pid = os.getpid()
        self.name = "rtmpdt-%d-%s" % (pid, tag)
        self.host_if = "rtv%d%sa" % (pid, tag)
        self.peer_if = "rtv%d%sb" % (pid, tag)
        if len(self.host_if) > 15:  # IFNAMSIZ - 1
            raise ValueError("interface name %s too long" % self.host_if)
        self.tag = tag
        self.host_ip = self.peer_ip = None
        self._created_ns = self._created_veth = False
        self.shaped = False

    # lifecycle -----------------------------------------------------------
    def create(self):
        """Creates the namespace, the veth pair and their addresses. Raises
        NetNSError (with the failing command and its message) if not
        permitted."""
        _install_hooks()
        with _lock:
            _live.append(self)
        r = _run(["ip", "netns", "add", self.name], check=False)
        if r.returncode != 0:
            raise NetNSError("cannot create network namespace %s (`ip netns add` exit %d: %s); "
                             "these tests need root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2"
                             % (self.name, r.returncode, r.stderr.strip()))
        self._created_ns = True
        _run(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.peer_if])
        self._created_veth = True
        _run(["ip", "link", "set", self.peer_if, "netns", self.name])
        self._pick_subnet()
        _run(["ip", "addr", "add", "%s/30" % self.host_ip, "dev", self.host_if])
        _run(["ip", "link", "set", self.host_if, "up"])
        _run(["ip", "-n", self.name, "addr", "add", "%s/30" % self.peer_ip, "dev", self.peer_if])
        _run(["ip", "-n", self.name, "link", "set", self.peer_if, "up"])
        _run(["ip", "-n", self.name, "link", "set", "lo", "up"])
        return self

    def _pick_subnet(self):
        used = _used_ipv4()
        idx = "0123456789abcdefghijklmnopqrstuvwxyz".index(self.tag[0].lower())
        start = (os.getpid() * 4 + idx * 131) % SUBNET_BLOCKS
        for i in range(4096):
            base = SUBNET_BASE + ((start + i * 7919) % SUBNET_BLOCKS) * 4
            host = str(ipaddress.IPv4Address(base + 1))
            peer = str(ipaddress.IPv4Address(base + 2))
            if host not in used and peer not in used:
                self.host_ip, self.peer_ip = host, peer
                return
        raise NetNSError("no free /30 subnet in 10.128.0.0/13")

    def destroy(self):
        """Deletes what create() made (idempotent; never raises)."""
        with _lock:
            if self in _live:
                _live.remove(self)
        if self._created_veth:
            # Deleting either end deletes the pair (and its qdiscs).
            _run(["ip", "link", "del", self.host_if], check=False)
            self._created_veth = False
        if self._created_ns:
            _run(["ip", "netns", "del", self.name], check=False)
            self._created_ns = False

    def __enter__(self):
        try:
            return self.create()
        except BaseException:
            self.destroy()
            raise

    def __exit__(self, *exc):
        self.destroy()
        return False

    # shaping ---------------------------------------------------------------
    def shape(self, rate, burst="4kb", latency="100ms"):
        """Limits the root -> namespace direction (the server's egress to the
        players) with a token bucket filter: `rate` as tc takes it
        ("1.2mbit"), `burst` the bucket, `latency` how long a packet may wait
        in the qdisc (the queue's length). Replaces earlier shaping."""
        _run(["tc", "qdisc", "replace", "dev", self.host_if, "root", "tbf", "rate", rate,
              "burst", burst, "latency", latency])
        self.shaped = True

    def unshape(self):
        """Removes the shaping (the link is then as fast as veth goes)."""
        if self.shaped:
            _run(["tc", "qdisc", "del", "dev", self.host_if, "root"], check=False)
            self.shaped = False

    def qdisc_stats(self):
        """`tc -s qdisc show` of the shaped interface (for diagnostics)."""
        return _run(["tc", "-s", "qdisc", "show", "dev", self.host_if], check=False).stdout.strip()

    # running things inside -----------------------------------------------
    def argv(self, cmd):
        """`cmd` prefixed to run inside the namespace."""
        return ["ip", "netns", "exec", self.name] + list(cmd)

    def popen(self, cmd, **kw):
        """subprocess.Popen of `cmd` inside the namespace."""
        return subprocess.Popen(self.argv(cmd), **kw)

    def run(self, cmd, timeout=60, **kw):
        """subprocess.run of `cmd` inside the namespace (text output captured)."""
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.run(self.argv(cmd), text=True, errors="replace", timeout=timeout, **kw)

    def call(self, fn):
        """Runs fn() on a thread that joined the namespace and returns its
        result (or raises its exception). Sockets fn creates belong to the
        namespace for their whole life, whichever thread uses them later:
        ns.call(lambda: rtmp_client.Client(ns.host_ip, port)) is a player
        inside the namespace."""
        box = {}

        def body():
            try:
                with open("/var/run/netns/%s" % self.name) as f:
                    _setns(f.fileno())
                box["value"] = fn()
            except BaseException as e:  # handed to the caller
                box["error"] = e

        t = threading.Thread(target=body, daemon=True)
        t.start()
        t.join()
        if "error" in box:
            raise box["error"]
        return box["value"]


def leftovers():
    """Namespaces "rtmpdt-PID-TAG" whose creating process PID is gone, with
    their root-side interfaces: [(namespace, interface)]."""
    out = []
    for line in _run(["ip", "netns", "list"], check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        parts = name.split("-")
        if len(parts) != 3 or parts[0] != "rtmpdt" or not parts[1].isdigit():
            continue
        if os.path.exists("/proc/%s" % parts[1]):
            continue  # its test is still running
        out.append((name, "rtv%s%sa" % (parts[1], parts[2])))
    return out


if __name__ == "__main__":
    import sys
    found = leftovers()
    for ns_name, ifname in found:
        print("%s %s" % (ns_name, ifname))
        if "--delete" in sys.argv[1:]:
            _run(["ip", "link", "del", ifname], check=False)
            _run(["ip", "netns", "del", ns_name], check=False)
    if not found:
        print("no leftovers")
