"""iptables rules: outbound NAT, isolation between networks, published ports.

Every rule lives in chains this service owns, named from a configurable
prefix (``KETCH``, ``KETCH-FORWARD`` ...), entered through one jump from each
built-in chain; rules of other programs are never touched. The layout follows
Docker's (its DOCKER, DOCKER-ISOLATION-STAGE-1/2 chains) with the choices of
Docker's "no userland proxy" mode, since ketch runs no proxy:

filter
  ``P-FORWARD``      (from FORWARD) isolation first, then per network:
                     established traffic in, published ports in (``P``),
                     traffic out, and container-to-container (icc).
  ``P-ISOLATION-1``  leaving a bridge for anything but itself -> stage 2;
                     internal networks: drop anything leaving or entering.
  ``P-ISOLATION-2``  ... into another ketch bridge: drop.
  ``P``              accept forwarded traffic to published container ports.
nat
  ``P``              (from PREROUTING and OUTPUT, local destinations): DNAT of
                     published ports, also for 127.0.0.1 (route_localnet).
  ``P-POSTROUTING``  masquerade outbound traffic, traffic from the host's own
                     addresses (loopback), and hairpin traffic (a container
                     reaching a published port of its own bridge).

IPv4 only: IPv6 networks get addresses but no ip6tables rules (a known gap).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ketch.networks.hostcmd import run, succeeds

IPTABLES = "iptables"


@dataclass(frozen=True)
class Rule:
    table: str
    chain: str
    args: tuple[str, ...]


class Firewall:
    def __init__(self, prefix: str = "KETCH", enabled: bool = True) -> None:
        self.prefix = prefix
        self.enabled = enabled
        self._lock = threading.Lock()
        self.forward = f"{prefix}-FORWARD"
        self.ports = prefix
        self.isolation1 = f"{prefix}-ISOLATION-1"
        self.isolation2 = f"{prefix}-ISOLATION-2"
        self.nat = prefix
        self.postrouting = f"{prefix}-POSTROUTING"

    # -- primitives --------------------------------------------------------------

    @staticmethod
    def _ipt(table: str, *args: str) -> list[str]:
        return [IPTABLES, "-w", "5", "-t", table, *args]

    def _chain_exists(self, table: str, chain: str) -> bool:
        return succeeds(self._ipt(table, "-n", "-L", chain))

    def _ensure_chain(self, table: str, chain: str) -> None:
        if not self._chain_exists(table, chain):
            run(self._ipt(table, "-N", chain))

    def _drop_chain(self, table: str, chain: str) -> None:
        if self._chain_exists(table, chain):
            run(self._ipt(table, "-F", chain))
            run(self._ipt(table, "-X", chain))

    def has(self, rule: Rule) -> bool:
        return succeeds(self._ipt(rule.table, "-C", rule.chain, *rule.args))

    def add(self, rule: Rule, insert: bool = False) -> None:
        """Add *rule* unless it is there already (idempotent, for recovery)."""
        if not self.enabled or self.has(rule):
            return
        op = ["-I", rule.chain, "1"] if insert else ["-A", rule.chain]
        run(self._ipt(rule.table, *op, *rule.args))

    def delete(self, rule: Rule) -> None:
        if not self.enabled:
            return
        while self.has(rule):
            run(self._ipt(rule.table, "-D", rule.chain, *rule.args))

    # -- base chains -----------------------------------------------------------

    def _jumps(self) -> list[Rule]:
        local = ("-m", "addrtype", "--dst-type", "LOCAL")
        return [
            Rule("filter", "FORWARD", ("-j", self.forward)),
            Rule("nat", "PREROUTING", (*local, "-j", self.nat)),
            Rule("nat", "OUTPUT", (*local, "-j", self.nat)),
            Rule("nat", "POSTROUTING", ("-j", self.postrouting)),
        ]

    def setup(self) -> None:
        """Create the chains and the jumps into them (idempotent)."""
        if not self.enabled:
            return
        with self._lock:
            for chain in (self.forward, self.ports, self.isolation1, self.isolation2):
                self._ensure_chain("filter", chain)
            for chain in (self.nat, self.postrouting):
                self._ensure_chain("nat", chain)
            first = Rule("filter", self.forward, ("-j", self.isolation1))
            if not self.has(first):
                run(self._ipt("filter", "-I", self.forward, "1", *first.args))
            for jump in self._jumps():
                self.add(jump, insert=True)

    def teardown(self) -> None:
        """Remove the jumps and every chain of this prefix with its rules."""
        if not self.enabled:
            return
        with self._lock:
            for jump in self._jumps():
                self.delete(jump)
            for chain in (self.forward, self.ports, self.isolation1, self.isolation2):
                if self._chain_exists("filter", chain):
                    run(self._ipt("filter", "-F", chain))
            for chain in (self.forward, self.ports, self.isolation1, self.isolation2):
                self._drop_chain("filter", chain)
            for chain in (self.nat, self.postrouting):
                self._drop_chain("nat", chain)

    # -- networks ----------------------------------------------------------------

    def network_rules(self, bridge: str, subnets: list[str], *, internal: bool, icc: bool,
                      masquerade: bool) -> list[Rule]:
        rules: list[Rule] = []
        f = "filter"
        if internal:
            rules.append(Rule(f, self.isolation1, ("-i", bridge, "!", "-o", bridge,
                                                   "-j", "DROP")))
            rules.append(Rule(f, self.isolation1, ("!", "-i", bridge, "-o", bridge,
                                                   "-j", "DROP")))
        else:
            rules.append(Rule(f, self.isolation1, ("-i", bridge, "!", "-o", bridge,
                                                   "-j", self.isolation2)))
            rules.append(Rule(f, self.isolation2, ("-o", bridge, "-j", "DROP")))
            rules.append(Rule(f, self.forward, ("-o", bridge, "-m", "conntrack", "--ctstate",
                                                "RELATED,ESTABLISHED", "-j", "ACCEPT")))
            rules.append(Rule(f, self.forward, ("-o", bridge, "-j", self.ports)))
            rules.append(Rule(f, self.forward, ("-i", bridge, "!", "-o", bridge,
                                                "-j", "ACCEPT")))
        rules.append(Rule(f, self.forward, ("-i", bridge, "-o", bridge,
                                            "-j", "ACCEPT" if icc else "DROP")))
        if not internal:
            for subnet in subnets:
                if masquerade:
                    rules.append(Rule("nat", self.postrouting, ("-s", subnet, "!", "-o", bridge,
                                                                "-j", "MASQUERADE")))
                rules.append(Rule("nat", self.postrouting, (
                    "-s", subnet, "-o", bridge, "-m", "conntrack", "--ctstate", "DNAT",
                    "-j", "MASQUERADE")))
            rules.append(Rule("nat", self.postrouting, (
                "-o", bridge, "-m", "addrtype", "--src-type", "LOCAL", "-j", "MASQUERADE")))
        return rules

    def port_rules(self, bridge: str, container_ip: str, proto: str, container_port: int,
                   host_ip: str, host_port: int) -> list[Rule]:
        dest = () if host_ip in ("", "0.0.0.0") else ("-d", f"{host_ip}/32")
        return [
            Rule("nat", self.nat, (*dest, "-p", proto, "-m", proto, "--dport", str(host_port),
                                   "-j", "DNAT", "--to-destination",
                                   f"{container_ip}:{container_port}")),
            Rule("filter", self.ports, ("-d", f"{container_ip}/32", "!", "-i", bridge,
                                        "-o", bridge, "-p", proto, "-m", proto,
                                        "--dport", str(container_port), "-j", "ACCEPT")),
        ]

    def apply(self, rules: list[Rule]) -> None:
        with self._lock:
            for rule in rules:
                self.add(rule)

    def remove(self, rules: list[Rule]) -> None:
        with self._lock:
            for rule in reversed(rules):
                self.delete(rule)
