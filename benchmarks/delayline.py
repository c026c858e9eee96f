#!/usr/bin/env python3
"""A network cable with latency, for kernels without netem (no `tc ... netem`).

delayline.py NS_A IF_A NS_B IF_B DELAY_MS RATE_MBIT   (RATE 0: unlimited)

Makes two TAP devices, IF_A in network namespace NS_A and IF_B in NS_B, and
forwards every frame from one to the other after DELAY_MS, at RATE_MBIT, each
direction on its own (up to 1000 frames queued per direction; more are
dropped, as a switch would). The devices vanish when the process ends, which
is a cable pull. vnet headers and offloads let 64 KB GSO frames through
whole, so the rate is not capped by per-frame cost. Standard library only;
run as root. Used by benchmarks/multihost_latency.sh.
"""
import collections
import ctypes
import fcntl
import os
import select
import signal
import struct
import sys
import time

CLONE_NEWNET = 0x40000000
TUNSETIFF, TUNSETOFFLOAD = 0x400454CA, 0x400454D0
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000
TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN = 1, 2, 4, 8
VNET_HDR = 10  # bytes before each frame; not on the wire

libc = ctypes.CDLL(None, use_errno=True)


def tap_in(ns, name):
    """A TAP device named `name` inside namespace `ns` (this thread moves there)."""
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET):
        raise OSError(ctypes.get_errno(), f"setns {ns}")
    os.close(fd)
    tap = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tap, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
    fcntl.ioctl(tap, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)
    os.set_blocking(tap, False)
    return tap


def main():
    ns_a, if_a, ns_b, if_b = sys.argv[1:5]
    delay = float(sys.argv[5]) / 1e3
    rate = float(sys.argv[6]) * 1e6 / 8  # bytes/s; 0: unlimited
    a, b = tap_in(ns_a, if_a), tap_in(ns_b, if_b)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    peer = {a: b, b: a}
    queue = {a: collections.deque(), b: collections.deque()}  # (due time, frame) per direction
    free = {a: 0.0, b: 0.0}  # when each direction's "wire" is free again
    while True:
        due = [q[0][0] for q in queue.values() if q]
        timeout = max(0.0, min(due) - time.monotonic()) if due else 1.0
        ready, _, _ = select.select([a, b], [], [], timeout)
        now = time.monotonic()
        for fd in ready:
            for _ in range(64):
                try:
                    frame = os.read(fd, 70000)
                except BlockingIOError:
                    break
                if len(queue[fd]) < 1000:
                    free[fd] = max(now, free[fd]) + ((len(frame) - VNET_HDR) / rate if rate else 0.0)
                    queue[fd].append((free[fd] + delay, frame))
        now = time.monotonic()
        for fd, q in queue.items():
            while q and q[0][0] <= now:
                try:
                    os.write(peer[fd], q.popleft()[1])
                except OSError:
                    pass


if __name__ == "__main__":
    main()
