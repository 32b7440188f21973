"""Building and removing a data plane's namespaces and wires (needs root).

The shape of one customer's topology: 12 namespaces (one a bridged
"internet" segment, three forwarding) and 15 veth pairs with an address on
each end and a route per internet host. Target (issue 5): well under 1 s to
build, since `sim start` has 5 s for everything including the tunnels.
Run with `python -m bench.netns [ROUNDS]`.
"""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import time

from simulator.netns import (
    Namespace,
    add_address,
    add_route,
    bridge,
    enslave,
    remove_namespaces,
    veth,
)

NAMESPACES = 12
VETH_PAIRS = 15
INTERNET_HOSTS = 5


def build(prefix: str) -> None:
    hosts = [
        Namespace.create(f"{prefix}{number}", router=number < 3)
        for number in range(NAMESPACES - 1)
    ]
    internet = Namespace.create(f"{prefix}internet")
    bridge(internet, "br0")
    for number in range(VETH_PAIRS):
        host = hosts[number % len(hosts)]
        if number < INTERNET_HOSTS:
            veth(host, "eth0", internet, f"port{number}")
            enslave(internet, f"port{number}", "br0")
            add_address(host, "eth0", f"198.51.100.{number + 1}/32")
            add_route(host, "default", dev="eth0")
        else:
            peer = hosts[(number + 3) % len(hosts)]
            veth(host, f"l{number}a", peer, f"l{number}b", mtu=1500)
            add_address(host, f"l{number}a", f"10.{number}.0.1/30")
            add_address(peer, f"l{number}b", f"10.{number}.0.2/30")


def measure(rounds: int = 5) -> dict[str, list[float]]:
    """Seconds per round to build and to remove the topology."""
    prefix = f"exsb{secrets.token_hex(2)}-"
    figures: dict[str, list[float]] = {"build": [], "remove": []}
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            build(prefix)
            figures["build"].append(time.perf_counter() - started)
            started = time.perf_counter()
            removed = remove_namespaces(prefix)
            figures["remove"].append(time.perf_counter() - started)
            if len(removed) != NAMESPACES:
                raise RuntimeError(f"removed {len(removed)} namespaces: {removed}")
    finally:
        remove_namespaces(prefix)
    return figures


def main() -> None:
    if os.geteuid() != 0:
        print("skipped: network namespaces need root")
        return
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    for step, seconds in measure(rounds).items():
        print(
            f"{step} {NAMESPACES} namespaces, {VETH_PAIRS} veth pairs: "
            f"median {statistics.median(seconds) * 1000:.0f} ms "
            f"(min {min(seconds) * 1000:.0f}, max {max(seconds) * 1000:.0f}, "
            f"{len(seconds)} rounds)"
        )


if __name__ == "__main__":
    main()
