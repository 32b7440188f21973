"""What a failure means: a code, the layer it lies in, and what to do about it.

Every check that fails says which of these it saw. The code is stable (CI
and dashboards key on it); the layer tells a reader where to look first; the
fix is the general remedy, which a check's own hint makes concrete with the
resource, address or value it saw.

`docs/checks.md` lists the catalogue; a test keeps the two equal.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Layer(enum.Enum):
    CONFIGURATION = "configuration"
    POLICY = "policy"
    TUNNEL = "IKE/tunnel"
    ROUTE = "route"
    SECURITY_GROUP = "security group/ACL"
    FIREWALL = "firewall/whitelist"
    MTU = "MTU"
    IDLE_TIMEOUT = "idle timeout"
    TLS = "TLS"
    AUTHENTICATION = "authentication"
    APPLICATION = "application"
    # The check could not run to a verdict: the tool, its credentials or the
    # cloud's API, not the exchange.
    CHECK = "check"


@dataclass(frozen=True)
class Diagnosis:
    code: str
    layer: Layer
    meaning: str
    fix: str


CATALOGUE: dict[str, Diagnosis] = {}


def _diagnosis(code: str, layer: Layer, meaning: str, fix: str) -> Diagnosis:
    diagnosis = Diagnosis(code, layer, meaning, fix)
    if code in CATALOGUE:
        raise ValueError(f"diagnosis {code} is defined twice")
    CATALOGUE[code] = diagnosis
    return diagnosis


# -- configuration and provisioning -------------------------------------------

NOT_PROVISIONED = _diagnosis(
    "NOT-PROVISIONED",
    Layer.CONFIGURATION,
    "the stack lacks a resource or output the exchange needs",
    "provision the stack from the current configuration (exchange up)",
)
DRIFT = _diagnosis(
    "DRIFT",
    Layer.CONFIGURATION,
    "a resource differs from what the configuration declares",
    "provision again from the configuration, or correct the configuration",
)
PUBLIC_DATABASE = _diagnosis(
    "DB-PUBLIC",
    Layer.POLICY,
    "the database is publicly accessible or unencrypted",
    "turn PubliclyAccessible off and keep storage encrypted (RDS-14, RDS-15)",
)
BUCKET_PUBLIC = _diagnosis(
    "BUCKET-PUBLIC",
    Layer.POLICY,
    "the file storage can be read or written without a ticket",
    "block all public access on the bucket and remove public grants (S3-01)",
)
TICKET_TOO_SHORT = _diagnosis(
    "TICKET-TOO-SHORT",
    Layer.CONFIGURATION,
    "a ticket expires before the largest file can be transferred at the measured rate",
    "raise ticketLifetimeSeconds, or lower largestFileMb (EXC-05)",
)

# -- the tunnels and routes ---------------------------------------------------

TUNNEL_REDUNDANCY_LOST = _diagnosis(
    "TUNNEL-REDUNDANCY-LOST",
    Layer.TUNNEL,
    "one of the two tunnels is down: traffic flows, without redundancy",
    "bring the second tunnel up on the customer's device (both tunnels, VPN-02)",
)
TUNNELS_DOWN = _diagnosis(
    "TUNNELS-DOWN",
    Layer.TUNNEL,
    "both tunnels are down: nothing crosses the VPN",
    "check the customer gateway's public IP, its IKE settings and its logs",
)
IKE_AUTHENTICATION = _diagnosis(
    "IKE-AUTH-FAILED",
    Layer.TUNNEL,
    "IKE authentication fails: the two ends hold different pre-shared keys",
    "load the tunnel's pre-shared key from the stack on the customer's device",
)
ROUTE_MISSING = _diagnosis(
    "ROUTE-MISSING",
    Layer.ROUTE,
    "no route leads a network into the VPN, or back from the VPC",
    "add the static route to the VPN connection, or enable route propagation",
)

# -- what drops packets -------------------------------------------------------

SECURITY_GROUP_DENIES = _diagnosis(
    "SG-DENIES",
    Layer.SECURITY_GROUP,
    "a security group or network ACL drops traffic the exchange needs",
    "admit the client networks on the port, in the group and the subnet's ACL",
)
SECURITY_GROUP_TOO_OPEN = _diagnosis(
    "SG-TOO-OPEN",
    Layer.SECURITY_GROUP,
    "a security group admits more than the exchange's client networks",
    "remove the extra rules and groups; never 0.0.0.0/0 for a database",
)
WHITELIST_DROPS = _diagnosis(
    "WHITELIST-DROPS",
    Layer.FIREWALL,
    "the customer's firewall drops the platform's egress IP",
    "whitelist every egress IP of the stack on the customer's firewall",
)
EGRESS_IP_NOT_WHITELISTED = _diagnosis(
    "EGRESS-IP-NOT-WHITELISTED",
    Layer.FIREWALL,
    "the platform leaves from an IP that is not on the customer's whitelist",
    "whitelist the egress IPs `exchange outputs` lists, or keep the Elastic IPs",
)
OUTBOUND_DROPPED = _diagnosis(
    "OUTBOUND-DROPPED",
    Layer.FIREWALL,
    "the caller's own firewall drops its connection to a public endpoint",
    "allow the endpoint outbound on the caller's firewall or proxy",
)
EXPOSED = _diagnosis(
    "EXPOSED",
    Layer.SECURITY_GROUP,
    "a host that must be kept out reaches the endpoint",
    "admit only the exchange's networks: security group, ACL, firewall",
)
CONNECT_TIMEOUT = _diagnosis(
    "CONNECT-TIMEOUT",
    Layer.SECURITY_GROUP,
    "the connection attempt is dropped on the way, without an answer",
    "a security group, network ACL or firewall drops it, or a tunnel is down",
)
UNREACHABLE = _diagnosis(
    "NET-UNREACHABLE",
    Layer.ROUTE,
    "no route leads to the endpoint from this vantage point",
    "route the endpoint's network (VPN routes, route tables, default route)",
)
REFUSED = _diagnosis(
    "PORT-CLOSED",
    Layer.APPLICATION,
    "the host answers but nothing listens on the port",
    "start the service, or correct the port in the configuration",
)
DNS_FAILURE = _diagnosis(
    "DNS-FAILURE",
    Layer.CONFIGURATION,
    "the endpoint's name does not resolve from this vantage point",
    "publish the name in DNS where the caller resolves, or use the address",
)
MTU_BLACK_HOLE = _diagnosis(
    "MTU-BLACK-HOLE",
    Layer.MTU,
    "small packets pass, large ones vanish: a path MTU black hole",
    "clamp TCP MSS on the customer gateway to 1379 and let ICMP "
    "fragmentation-needed through (MTU-01, MTU-03)",
)
IDLE_TIMEOUT = _diagnosis(
    "IDLE-TIMEOUT",
    Layer.IDLE_TIMEOUT,
    "a connection idle for a while is cut by a middlebox",
    "keep the client's pool idle time below the load balancer's idle timeout "
    "(NLB-18), or send TCP keepalives",
)

# -- TLS and authentication ---------------------------------------------------

TLS_FAILED = _diagnosis(
    "TLS-FAILED",
    Layer.TLS,
    "the TLS handshake fails, or the certificate is not trusted",
    "the client must trust the server's CA; the certificate must name the host",
)
TLS_NOT_ENFORCED = _diagnosis(
    "TLS-NOT-ENFORCED",
    Layer.TLS,
    "the server accepts a connection without TLS where TLS is required",
    "set require_secure_transport=1 in the parameter group (RDS-SSL, MY-08)",
)
CERTIFICATE_EXPIRING = _diagnosis(
    "CERT-EXPIRING",
    Layer.TLS,
    "the server's certificate expires soon",
    "renew the certificate before it expires",
)
AUTH_REJECTED = _diagnosis(
    "AUTH-REJECTED",
    Layer.AUTHENTICATION,
    "the endpoint refuses the configured credentials",
    "renew the credentials in the secret the configuration names",
)

# -- the application ----------------------------------------------------------

DATABASE_DOWN = _diagnosis(
    "DB-NOT-RUNNING",
    Layer.APPLICATION,
    "the database instance is not running",
    "start the instance (it may have been stopped, or is failing over)",
)
DATABASE_ERROR = _diagnosis(
    "DB-ERROR",
    Layer.APPLICATION,
    "the database answers with an error",
    "read the error: privileges, a full disk, or a misconfigured server",
)
NO_ANSWER = _diagnosis(
    "NO-ANSWER",
    Layer.APPLICATION,
    "the server accepted the connection, then did not answer in time",
    "look at the server: hung, overloaded, or slower than the caller waits",
)
HTTP_STATUS = _diagnosis(
    "HTTP-STATUS",
    Layer.APPLICATION,
    "the web service answers with an error status",
    "look at the service's logs; a 5xx is the service's own failure",
)
HTTP_CONTRACT = _diagnosis(
    "HTTP-CONTRACT",
    Layer.APPLICATION,
    "the answer's content type or document is not what the exchange expects",
    "align the service with contentType and responseSchema, or the configuration "
    "with the service",
)
TOO_SLOW = _diagnosis(
    "TOO-SLOW",
    Layer.APPLICATION,
    "the endpoint answers, but slower than the exchange can wait",
    "speed the service up, or raise the timeouts within the schedule (EXC-07)",
)
DATA_MISMATCH = _diagnosis(
    "DATA-MISMATCH",
    Layer.APPLICATION,
    "what was written does not read back identical",
    "check character sets, size limits and anything that rewrites data in between",
)
TARGET_UNHEALTHY = _diagnosis(
    "TARGET-UNHEALTHY",
    Layer.APPLICATION,
    "the load balancer's health checks fail for the on-premises database",
    "the database must accept the load balancer's probes through the VPN "
    "(the customer's firewall admits the VPC's network)",
)

# -- the check itself ---------------------------------------------------------

CHECK_ERROR = _diagnosis(
    "CHECK-ERROR",
    Layer.CHECK,
    "the check could not run to a verdict",
    "read the evidence; run again with -v, or -vv for the traceback",
)
CHECK_TIMEOUT = _diagnosis(
    "CHECK-TIMEOUT",
    Layer.CHECK,
    "the check reached no verdict within its timeout",
    "the endpoint or the cloud's API does not answer; run again with -v",
)
API_ERROR = _diagnosis(
    "API-ERROR",
    Layer.CHECK,
    "the cloud's API refused a call the check needs",
    "check the credentials and region, or that the simulator is running",
)


def catalogue_markdown() -> str:
    """The catalogue as the table docs/checks.md carries."""
    lines = ["| code | layer | what it means | what to do |", "|---|---|---|---|"]
    for diagnosis in CATALOGUE.values():
        lines.append(
            f"| `{diagnosis.code}` | {diagnosis.layer.value} | {diagnosis.meaning} "
            f"| {diagnosis.fix} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(catalogue_markdown(), end="")
