"""whitelist: the platform leaves from the egress IPs the customer whitelisted.

- `egress-ips` (cloud API): every NAT gateway of the stack leaves from one of
  the stack's egress IPs, and each of them lies in the allowlist the
  configuration declares (`whitelist.egressIps`), when it declares one;
- `egress-ip-seen` (platform): the address the internet sees the platform's
  traffic come from (checkip.amazonaws.com answers it) is one of them, so
  that a NAT gateway that moved to another Elastic IP shows;
- `admitted` (platform): the customer's whitelisted endpoint accepts a TCP
  connection from the platform;
- `refused` (outsider): and none from a host that is not whitelisted.
"""

from __future__ import annotations

import http.client
import ipaddress

from checks import diagnosis as dx
from checks.plan import PlannedCheck
from checks.probe import OVER_INTERNET, Blocked, kept_out, open_connection, reached
from checks.result import Outcome, Status, failed, passed
from checks.target import Target
from infra import outputs as keys

CHECKIP_HOST = "checkip.amazonaws.com"


def whitelist(target: Target, planned: PlannedCheck) -> Outcome:
    aspects = {
        "egress-ips": egress_ips,
        "egress-ip-seen": egress_ip_seen,
        "admitted": admitted,
        "refused": refused,
    }
    return aspects[planned.param("aspect")](target, planned)


def _whitelisted(target: Target) -> tuple[list[str], str]:
    """The addresses the customer admits, and where that list comes from."""
    declared = target.config.whitelist.egress_ips if target.config.whitelist else ()
    if declared:
        return [str(n) for n in declared], "the configuration's whitelist.egressIps"
    return list(target.output(keys.EGRESS_IPS)), "the stack's egress IPs"


def _inside(address: str, networks: list[str]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)


def egress_ips(target: Target, planned: PlannedCheck) -> Outcome:
    stack_ips = list(target.output(keys.EGRESS_IPS))
    nat_ids = list(target.output(keys.NAT_GATEWAY_IDS))
    gateways = target.client("ec2").describe_nat_gateways(NatGatewayIds=nat_ids)[
        "NatGateways"
    ]
    leaving = {
        g["NatGatewayId"]: [a.get("PublicIp") for a in g.get("NatGatewayAddresses", [])]
        for g in gateways
    }
    moved = [
        f"{nat} leaves from {ip}"
        for nat, ips in leaving.items()
        for ip in ips
        if ip not in stack_ips
    ]
    if moved:
        return failed(
            "; ".join(moved) + f", not from the stack's egress IPs {stack_ips}",
            "the customer whitelisted the stack's egress IPs: give the NAT gateway "
            "its Elastic IP back, or have the new one whitelisted",
            dx.EGRESS_IP_NOT_WHITELISTED,
        )
    allowlist, source = _whitelisted(target)
    outside = [ip for ip in stack_ips if not _inside(ip, allowlist)]
    if outside:
        return failed(
            f"egress IPs {', '.join(outside)} are outside {source} {allowlist}",
            "add them to the customer's whitelist and to whitelist.egressIps",
            dx.EGRESS_IP_NOT_WHITELISTED,
        )
    return passed(
        f"{len(nat_ids)} NAT gateways leave from {', '.join(stack_ips)}, all inside "
        f"{source}"
    )


def egress_ip_seen(target: Target, planned: PlannedCheck) -> Outcome:
    """Ask checkip, from the platform, which address its traffic leaves from."""
    timeout = planned.probe_timeout_s()
    try:
        connected = open_connection(
            target,
            planned.vantage,
            CHECKIP_HOST,
            80,
            timeout_s=timeout,
            path=OVER_INTERNET,
        )
    except Blocked as blocked:
        if blocked.outcome.status is Status.SKIP:
            return blocked.outcome
        return failed(
            f"the platform cannot ask {CHECKIP_HOST}: {blocked.outcome.evidence}",
            "the platform has no way to the internet: a NAT gateway and the default "
            "route of its subnet's route table",
            dx.UNREACHABLE,
        )
    connection = http.client.HTTPConnection(CHECKIP_HOST, 80, timeout=timeout)
    # The socket was opened at the vantage point; the request goes over it.
    connection.sock = connected.sock
    try:
        connection.request("GET", "/")
        seen = connection.getresponse().read(200).decode(errors="replace").strip()
    except (OSError, http.client.HTTPException) as error:
        return failed(f"{CHECKIP_HOST} did not answer ({error})", "", dx.NO_ANSWER)
    finally:
        connection.close()
    try:
        ipaddress.ip_address(seen)
    except ValueError:
        return failed(
            f"{CHECKIP_HOST} answered {seen[:60]!r}, not an address", "", dx.NO_ANSWER
        )
    stack_ips = list(target.output(keys.EGRESS_IPS))
    if seen not in stack_ips:
        return failed(
            f"the platform's traffic leaves from {seen} ({CHECKIP_HOST}), which is "
            f"none of the stack's egress IPs {stack_ips}",
            f"the customer whitelisted the stack's egress IPs, not {seen}: give the "
            "NAT gateway its Elastic IP back, or have the new one whitelisted",
            dx.EGRESS_IP_NOT_WHITELISTED,
        )
    allowlist, source = _whitelisted(target)
    if not _inside(seen, allowlist):
        return failed(
            f"the platform's traffic leaves from {seen} ({CHECKIP_HOST}), which is not "
            f"in {source} {allowlist}",
            f"{seen} is not whitelisted: keep the NAT gateways' Elastic IPs, or have "
            "the customer whitelist the new one",
            dx.EGRESS_IP_NOT_WHITELISTED,
        )
    return passed(
        f"the platform's traffic leaves from {seen} ({CHECKIP_HOST}), one of {source}"
    )


def _endpoint(planned: PlannedCheck) -> tuple[str, int]:
    return planned.param("host"), int(planned.param("port"))


def admitted(target: Target, planned: PlannedCheck) -> Outcome:
    host, port = _endpoint(planned)
    return reached(
        target,
        planned.vantage,
        host,
        port,
        timeout_s=planned.probe_timeout_s(),
        path=OVER_INTERNET,
        what="admitted the platform",
    )


def refused(target: Target, planned: PlannedCheck) -> Outcome:
    host, port = _endpoint(planned)
    return kept_out(
        target,
        planned.vantage,
        host,
        port,
        timeout_s=planned.probe_timeout_s(),
        path=OVER_INTERNET,
        hint="the customer's firewall must admit only the platform's egress IPs on "
        "this port",
    )
