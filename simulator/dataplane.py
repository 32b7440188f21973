"""One customer's simulated network: hosts in namespaces, real tunnels and firewalls.

Built from the simulated cloud's state (the describe calls) and the
customer's configuration, so that a setting the program failed to declare
is missing here too:

    outsider ─┐                                        ┌─ db (RDS endpoint address,
              │                                        │    security groups as nftables)
    client ─┐ │                                        │
            site ── cgw ══ internet ══ aws-vpn ── vpc ─┤
    other  ─┘  (firewall,   (router)  (both tunnel     └─ ...
               strongSwan)             endpoints)

- `internet` routes every public address (/32) to the namespace that owns
  it and answers ARP for them (proxy ARP), like a provider's network.
- `cgw` is the customer's VPN device: its public IP, an address in every
  on-premises network, strongSwan loaded with the files `exchange
  vpn-config --device strongswan` writes, and their firewall (VPN-49
  openings, MSS clamp).
- `aws-vpn` holds both tunnels' outside IPs and one strongSwan configured
  from the VPN connection's tunnel options; it is the VPC's way to the VPN
  gateway.
- `vpc` is the VPC as one layer-2 segment; each host's own routes are its
  subnet's route table as EC2 describes it (local, and the routes the VPN
  gateway propagates while a tunnel is UP, VGW-09).
- each RDS instance is a host at an address of its subnet, with a private
  MariaDB and its security groups as nftables rules that drop what they do
  not admit, like AWS.

Every namespace's name starts with the simulator's prefix; what is built is
recorded (`dataplane/<customer>.json`) so that `down` and `sim stop` remove
exactly that.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from ipaddress import IPv4Address, IPv4Network, ip_address
from pathlib import Path
from typing import Any

from exchange import vpn_device
from exchange.config.model import ExchangeConfig
from exchange.environment import VantagePoint
from infra import outputs as keys
from simulator import firewall, ipsec, mariadb, netns

log = logging.getLogger("simulator")

# Both tunnels are up in about a second; ten customers on two busy cores
# have been seen to take several.
TUNNELS_UP_TIMEOUT_S = 15.0
# How long a tunnel may be on its way before it is initiated again.
RETRY_INITIATE_S = 0.3
# The public addresses the simulator gives the customer's web services'
# names, from TEST-NET-3's lower half (the customer's side of the internet).
WEB_SERVICE_BASE = IPv4Address("203.0.113.100")
NLB_IDLE_TIMEOUT_S = 350  # NLB-18
# The platform's public S3 endpoint on each customer's internet (TEST-NET-2).
FILE_STORAGE_ENDPOINT = IPv4Address("198.51.100.250")
# Where the internet answers a caller with its own address (checkip).
CHECKIP_ENDPOINT = IPv4Address("198.51.100.251")
CHECKIP_HOST = "checkip.amazonaws.com"
# The outsider: somewhere on the internet, in TEST-NET-1.
OUTSIDER_IP = "192.0.2.250"
# Where the VPC reaches its VPN gateway: the VPC's last usable address,
# never in a subnet the program makes (those are at the start).
Track = Callable[[int, str], None]


class DataPlaneError(Exception):
    """The data plane could not be built as the cloud describes it."""


def _failures() -> tuple[type[Exception], ...]:
    from simulator import nlb, web_service

    return (
        DataPlaneError,
        netns.TopologyError,
        ipsec.CharonFailed,
        ipsec.StrongSwanUnavailable,
        firewall.FirewallError,
        mariadb.MariaDBFailed,
        mariadb.MariaDBUnavailable,
        nlb.LoadBalancerFailed,
        web_service.WebServiceFailed,
        web_service.SpecError,
    )


@dataclass
class DataPlaneRecord:
    """What was built for one customer, so that it can be removed exactly."""

    customer: str
    # The start of every namespace name of this customer's network.
    prefix: str = ""
    namespaces: list[str] = field(default_factory=list)
    # host name -> address, as the customer's and the platform's resolvers
    # answer (RDS endpoint names, ...).
    hosts: dict[str, str] = field(default_factory=dict)
    # What `sim fault` needs to find again.
    cgw: str = ""
    aws_vpn: str = ""
    charon_folders: dict[str, str] = field(default_factory=dict)
    # VPC host namespace -> {address, subnet}: whose routes follow the tables.
    vpc_hosts: dict[str, dict[str, str]] = field(default_factory=dict)
    # NAT gateway id -> {namespace, private_ip, public_ip}
    nat_gateways: dict[str, dict[str, str]] = field(default_factory=dict)
    # web service site "host:port" -> {namespace, address, spec}
    web_services: dict[str, dict[str, str]] = field(default_factory=dict)
    # (egress IP, destination, port) the customer's firewall admits.
    whitelist: list[list[Any]] = field(default_factory=list)
    # target group ARN -> {namespace, address, port, target, spec, health}
    load_balancers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Where the AWS API's process relays the file-storage endpoint.
    relays: list[dict[str, Any]] = field(default_factory=list)
    # remote-database exchange -> the namespace of its on-premises server
    on_premises: dict[str, str] = field(default_factory=dict)
    # RDS instance -> {namespace, address, subnet, security_groups}
    databases: dict[str, dict[str, Any]] = field(default_factory=dict)
    tunnels: list[dict[str, str]] = field(default_factory=list)
    # VPC host namespace -> {destination: next hop} from its route table.
    routes: dict[str, dict[str, str]] = field(default_factory=dict)
    # With BGP: the networks the customer's device announces.
    bgp_routes: list[str] | None = None
    # The AWS side's VICI socket: what the telemetry asks.
    vici: str = ""
    region: str = ""

    def save(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> DataPlaneRecord:
        return cls(**json.loads(path.read_text()))


def _host(network: IPv4Network, offset: int) -> IPv4Address:
    return network.network_address + offset


class CustomerNetwork:
    """Builds one customer's namespaces, links, tunnels, firewalls and servers."""

    def __init__(
        self,
        *,
        home: Path,
        prefix: str,
        config: ExchangeConfig,
        outputs: dict[str, Any],
        clients: dict[str, Any],
        track: Track,
        socket_dir: Path,
        server_tls: Callable[[str, str, str], mariadb.TlsFiles],
        publish_watches: Callable[[DataPlaneRecord], None],
        record: DataPlaneRecord | None = None,
    ) -> None:
        self.home = home
        self.config = config
        self.outputs = outputs
        self.ec2 = clients["ec2"]
        self.rds = clients["rds"]
        self.secrets = clients["secretsmanager"]
        self.elbv2 = clients.get("elbv2")
        self.track = track
        self.socket_dir = socket_dir
        self.server_tls = server_tls
        self.publish_watches = publish_watches
        self.record = record or DataPlaneRecord(
            customer=config.customer.slug, region=config.region, prefix=prefix
        )
        # A network built earlier keeps the names it was built with.
        self.prefix = self.record.prefix or prefix
        self.vpc_cidr = config.vpc.cidr
        # Servers to start side by side once the wiring is done.
        self._servers: list[Callable[[], Any]] = []
        self.vgw_address = self.vpc_cidr.broadcast_address - 1

    # -- namespaces and links ------------------------------------------------

    def _namespace(self, role: str, *, router: bool = False) -> netns.Namespace:
        name = f"{self.prefix}-{role}"
        namespace = netns.Namespace.create(name, router=router)
        self.record.namespaces.append(name)
        return namespace

    def build(self) -> dict[str, VantagePoint]:
        (connection,) = self.ec2.describe_vpn_connections(
            VpnConnectionIds=[self.outputs[keys.VPN_CONNECTION_ID]]
        )["VpnConnections"]
        outside_ips = [
            t["OutsideIpAddress"] for t in connection["Options"]["TunnelOptions"]
        ]
        cgw_ip = str(self.config.on_premises.customer_gateway_ip)

        internet = self._namespace("inet", router=True)
        netns.set_sysctl(internet, "net.ipv4.conf.default.proxy_arp", 1)
        netns.set_sysctl(internet, "net.ipv4.conf.all.proxy_arp", 1)
        cgw = self._namespace("cgw", router=True)
        aws_vpn = self._namespace("awsvpn", router=True)
        self.record.cgw, self.record.aws_vpn = cgw.name, aws_vpn.name

        self._public_host(internet, cgw, "cgw", [cgw_ip])
        self._public_host(internet, aws_vpn, "awsvpn", outside_ips)
        outsider = self._namespace("outsider")
        self._public_host(internet, outsider, "outsider", [OUTSIDER_IP])

        client, other = self._site(cgw)
        vpc = self._namespace("vpc")
        netns.bridge(vpc, "br0")
        netns.veth(vpc, "awsvpn", aws_vpn, "vpc0")
        netns.enslave(vpc, "awsvpn", "br0")
        netns.add_address(
            aws_vpn, "vpc0", f"{self.vgw_address}/{self.vpc_cidr.prefixlen}"
        )

        databases = self._database_hosts(vpc)
        self._nat_gateways(internet, vpc)
        app = self._app_host(vpc)
        self._web_services(internet, cgw)
        self._whitelisted_databases(internet, cgw)
        self._load_balancers(vpc)
        self._file_storage_endpoint(internet)
        self._checkip_endpoint(internet)
        log.debug("%s: namespaces and links built", self.record.customer)
        # The servers start while the tunnels come up: neither waits on the
        # other, and each takes about a second.
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            # The web services and load balancers wait for their own readiness.
            servers = [pool.submit(start) for start in self._servers]
            servers += [pool.submit(self.start_database, name) for name in databases]
            servers += [
                pool.submit(self._start_on_premises_database, number, exchange)
                for number, exchange in enumerate(
                    self._remote_databases_via_vpn(), start=1
                )
            ]
            self._tunnels(connection, cgw, aws_vpn)
            log.debug("%s: both tunnels established", self.record.customer)
            self.publish_watches(self.record)
            self._wait_for_telemetry(connection["VpnConnectionId"])
            log.debug("%s: the telemetry reports both tunnels UP", self.record.customer)
            # The VPN gateway's routes are in the route tables only now (VGW-09).
            self.sync_routes()
            for server in servers:
                server.result()
            # The load balancers probe their targets through the tunnels now
            # up; a stack is ready when their first verdicts are reported.
            self._wait_for_target_health()

        # Every vantage point resolves names alike and trusts the test CA.
        hosts, missing = dict(self.record.hosts), self.missing_stand_ins()

        def point(name: str, description: str, namespace: str) -> VantagePoint:
            return VantagePoint(
                name=name,
                description=description,
                netns=namespace,
                ca_bundle=str(self.home / "ca.pem"),
                hosts=dict(hosts),
                missing=dict(missing),
            )

        points = {
            "onprem": point(
                "onprem",
                f"the customer's client host {client}",
                f"{self.prefix}-client",
            ),
            "outsider": point(
                "outsider", f"a host on the internet ({OUTSIDER_IP})", outsider.name
            ),
        }
        if app is not None:
            points["platform"] = point(
                "platform", f"the platform's app host {app}", f"{self.prefix}-app"
            )
        if other is not None:
            points["onprem-other"] = point(
                "onprem-other",
                f"a customer host outside the client networks ({other})",
                f"{self.prefix}-other",
            )
        log.info(
            "data plane of %s: %d namespaces, %d databases",
            self.record.customer,
            len(self.record.namespaces),
            len(databases),
        )
        return points

    def _public_host(
        self,
        internet: netns.Namespace,
        host: netns.Namespace,
        label: str,
        addresses: list[str],
    ) -> None:
        """Wire `host` to the internet with its public /32 addresses."""
        netns.veth(internet, label[:15], host, "inet0")
        # The kernel delays proxy ARP answers by up to 0.8 s; the first IKE
        # packet waited that long, and a tunnel took a second to come up.
        netns.set_sysctl(internet, f"net.ipv4.neigh.{label[:15]}.proxy_delay", 0)
        for address in addresses:
            netns.add_address(host, "inet0", f"{address}/32")
            netns.add_route(internet, f"{address}/32", dev=label[:15])
        # Everything else is out there: the internet answers ARP for it.
        netns.add_route(host, "0.0.0.0/0", dev="inet0")

    def _site(self, cgw: netns.Namespace) -> tuple[IPv4Address, IPv4Address | None]:
        """The customer's LAN: the gateway's inside, a client and another host."""
        site = self._namespace("site")
        netns.bridge(site, "br0")
        netns.veth(site, "cgw", cgw, "lan0")
        netns.enslave(site, "cgw", "br0")
        networks = list(self.config.on_premises.networks)
        # The gateway has an address in every on-premises network: strongSwan's
        # user-space ESP takes its sources from there (LAB-NOTES).
        for network in networks:
            netns.add_address(cgw, "lan0", f"{_host(network, 1)}/{network.prefixlen}")
        clients = [n for db in self.config.app_databases() for n in db.client_networks]
        client_network = clients[0] if clients else networks[0]
        client = _host(client_network, 10)
        self._site_host(site, "client", client, client_network)
        outside = [n for n in networks if not any(n.overlaps(c) for c in clients)]
        other = None
        if outside:
            other = _host(outside[0], 10)
            self._site_host(site, "other", other, outside[0])
        return client, other

    def _site_host(
        self,
        site: netns.Namespace,
        role: str,
        address: IPv4Address,
        network: IPv4Network,
    ) -> None:
        host = self._namespace(role)
        netns.veth(site, role, host, "eth0")
        netns.enslave(site, role, "br0")
        netns.add_address(host, "eth0", f"{address}/{network.prefixlen}")
        netns.add_route(host, "0.0.0.0/0", via=str(_host(network, 1)))

    # -- tunnels -----------------------------------------------------------------

    def _tunnels(
        self,
        connection: dict[str, Any],
        cgw: netns.Namespace,
        aws_vpn: netns.Namespace,
    ) -> None:
        """Both sides' strongSwan, the customer's from `exchange vpn-config`."""
        routing = self.config.on_premises.routing
        (gateway,) = self.ec2.describe_vpn_gateways(
            VpnGatewayIds=[connection["VpnGatewayId"]]
        )["VpnGateways"]
        customer_files = vpn_device.render(
            "strongswan",
            self.config,
            connection,
            amazon_side_asn=int(gateway.get("AmazonSideAsn", 64512)),
        )
        aws_side = ipsec.aws_side(
            connection,
            self.config.on_premises.customer_gateway_ip,
            on_premises_networks=self.config.on_premises.networks,
            vpc_cidr=self.vpc_cidr,
            routing=routing,
        )
        aws_files = aws_side.files()
        # With BGP both sides' selectors are 0.0.0.0/0, and strongSwan's
        # route for them would swallow the other tunnel's IKE packets: the
        # routes into the tunnel are set here instead, to what BGP would
        # announce (the on-premises networks, the VPC).
        bgp = routing == "bgp"
        sides = {}
        for namespace, files, role in (
            (aws_vpn, aws_files, "aws"),
            (cgw, customer_files, "cgw"),
        ):
            folder = self.socket_dir / f"{self.prefix[-6:]}-{role}"
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            vpn_device.write_files(folder / "swanctl", files)
            charon = ipsec.Charon.start(
                namespace.name,
                folder,
                on_started=self.track,
                install_routes=not bgp,
            )
            self.record.charon_folders[role] = str(folder)
            if role == "aws":
                # AWS reports what its own endpoints see.
                self.record.vici = str(charon.socket_path)
            sides[role] = (charon, folder)
        # The customer's device firewall as generated: IKE/ESP openings and
        # the MSS clamp (VPN-49, MTU-02).
        load_nft(cgw.name, (sides["cgw"][1] / "swanctl" / vpn_device.FIREWALL_NFT))
        # And the customer's own edge: nothing from the internet reaches the
        # site unless whitelisted; the VPC through the tunnel only.
        firewall.apply(cgw.name, self.customer_firewall())
        firewall.apply(
            cgw.name,
            firewall.site_nat_ruleset(
                outside_if="inet0",
                public_ip=self.config.on_premises.customer_gateway_ip,
                site_networks=[str(n) for n in self.config.on_premises.networks],
            ),
        )
        # The side that initiates loads last, so that its first attempt finds
        # the other side ready (a refused attempt is not repeated by charon).
        aws_initiates = any(t.aws_initiates for t in aws_side.tunnels)
        for role in ("cgw", "aws") if aws_initiates else ("aws", "cgw"):
            charon, folder = sides[role]
            charon.load(folder / "swanctl" / vpn_device.SWANCTL_CONF)
            log.debug("%s: %s side loaded", self.record.customer, role)
        cgw_charon, _ = sides["cgw"]
        tunnels = vpn_device.device_tunnels(
            connection, self.config.on_premises.customer_gateway_ip
        )
        for tunnel in tunnels:
            self.record.tunnels.append(
                {
                    "name": tunnel.name,
                    "outside_ip": str(tunnel.aws_outside_ip),
                    "vpn_connection_id": connection["VpnConnectionId"],
                }
            )
        # Whoever AWS's startup action names initiates (the AWS side with
        # `start`, the customer's device otherwise); the side that loaded
        # first had its own attempts refused, and strongSwan does not retry.
        ipsec.bring_up(sides["aws"][0], aws_side, cgw_charon)
        log.debug("%s: tunnels initiated", self.record.customer)
        if bgp:
            self.record.bgp_routes = [str(n) for n in self.config.on_premises.networks]
            for network in self.config.on_premises.networks:
                netns.add_route(aws_vpn, str(network), dev="ipsec0")
            netns.add_route(cgw, str(self.vpc_cidr), dev="ipsec0")
        deadline = time.monotonic() + TUNNELS_UP_TIMEOUT_S
        next_attempt = time.monotonic() + RETRY_INITIATE_S
        while time.monotonic() < deadline:
            states = cgw_charon.tunnels()
            if all(states.get(t.name) and states[t.name].up for t in tunnels):
                return
            if time.monotonic() > next_attempt:
                # An attempt that was still underway when bring_up looked can
                # be refused a moment later (the peer had not loaded yet),
                # and strongSwan does not try again: initiate once more.
                ipsec.bring_up(sides["aws"][0], aws_side, cgw_charon)
                next_attempt = time.monotonic() + RETRY_INITIATE_S
            time.sleep(0.05)
        raise DataPlaneError(
            f"the tunnels of {connection['VpnConnectionId']} did not come up within "
            f"{TUNNELS_UP_TIMEOUT_S:.0f} s: {cgw_charon.log_tail()}"
        )

    def _wait_for_telemetry(self, connection_id: str) -> None:
        """Until AWS reports the tunnels UP: the routes propagate only then."""
        deadline = time.monotonic() + TUNNELS_UP_TIMEOUT_S
        while time.monotonic() < deadline:
            (connection,) = self.ec2.describe_vpn_connections(
                VpnConnectionIds=[connection_id]
            )["VpnConnections"]
            if all(t["Status"] == "UP" for t in connection["VgwTelemetry"]):
                return
            time.sleep(0.1)
        log.warning("the telemetry of %s did not report UP in time", connection_id)

    def _wait_for_target_health(self) -> None:
        """Until every load balancer reports its target healthy, or a timeout."""
        arns = list(self.record.load_balancers)
        deadline = time.monotonic() + TUNNELS_UP_TIMEOUT_S
        while arns and time.monotonic() < deadline:
            arns = [
                arn
                for arn in arns
                if any(
                    d["TargetHealth"]["State"] != "healthy"
                    for d in self.elbv2.describe_target_health(TargetGroupArn=arn)[
                        "TargetHealthDescriptions"
                    ]
                )
            ]
            if arns:
                time.sleep(0.1)
        if arns:
            log.warning("targets of %s not healthy in time", ", ".join(arns))

    def customer_firewall(
        self, whitelist: list[firewall.WhitelistEntry] | None = None
    ) -> str:
        """The customer's edge firewall: the record's whitelist unless given."""
        if whitelist is None:
            whitelist = [
                firewall.WhitelistEntry(*entry) for entry in self.record.whitelist
            ]
        (connection,) = self.ec2.describe_vpn_connections(
            VpnConnectionIds=[self.outputs[keys.VPN_CONNECTION_ID]]
        )["VpnConnections"]
        return firewall.customer_firewall_ruleset(
            outside_if="inet0",
            site_networks=[str(n) for n in self.config.on_premises.networks],
            vpc_cidr=str(self.vpc_cidr),
            whitelist=list(whitelist),
            aws_tunnel_endpoints=[
                t["OutsideIpAddress"] for t in connection["Options"]["TunnelOptions"]
            ],
        )

    # -- the VPC's hosts ---------------------------------------------------------

    def _database_hosts(self, vpc: netns.Namespace) -> list[str]:
        """A host per RDS instance at an address of its subnet, behind its groups."""
        subnet = IPv4Network(
            self.ec2.describe_subnets(
                SubnetIds=[self.outputs[keys.PRIVATE_SUBNET_IDS][0]]
            )["Subnets"][0]["CidrBlock"]
        )
        names = []
        for number, database in enumerate(
            self.outputs.get(keys.DATABASES, {}).values(), start=1
        ):
            (instance,) = self.rds.describe_db_instances(
                DBInstanceIdentifier=database[keys.DB_INSTANCE_ID]
            )["DBInstances"]
            name = instance["DBInstanceIdentifier"]
            # RDS gives the endpoint a name only; the host takes an address
            # of the first subnet of the DB subnet group, as an ENI would.
            address = _host(subnet, 9 + number)
            host = self._namespace(f"db{number}")
            netns.veth(vpc, f"db{number}", host, "eth0")
            netns.enslave(vpc, f"db{number}", "br0")
            netns.add_address(host, "eth0", f"{address}/{self.vpc_cidr.prefixlen}")
            self.record.hosts[instance["Endpoint"]["Address"]] = str(address)
            self.record.vpc_hosts[host.name] = {
                "address": str(address),
                "subnet": str(subnet),
            }
            self.record.databases[name] = {
                "namespace": host.name,
                "address": str(address),
                "subnet": str(subnet),
                "security_groups": [
                    g["VpcSecurityGroupId"] for g in instance["VpcSecurityGroups"]
                ],
            }
            self.apply_security_groups(name)
            names.append(name)
        return names

    def start_database(self, name: str) -> None:
        """The instance's MariaDB in its host, at its address (again, after a stop)."""
        database = self.record.databases[name]
        (instance,) = self.rds.describe_db_instances(DBInstanceIdentifier=name)[
            "DBInstances"
        ]
        tls = self.server_tls(
            name, instance["Endpoint"]["Address"], database["address"]
        )
        require_tls = mariadb.requires_tls(self.rds, instance)
        # Only the server starts inside the host: API calls stay here.
        with netns.entered(netns.Namespace(database["namespace"])):
            server = mariadb.start_instance(
                name,
                self.home / "mariadb",
                tls=tls,
                require_tls=require_tls,
                on_started=lambda pid: self.track(pid, f"mariadb {name}"),
                socket_dir=self.socket_dir,
                bind_address=database["address"],
                port=int(instance["Endpoint"]["Port"]),
            )
        mariadb.create_rds_master_user(server, instance, self.secrets)

    def sync_routes(self) -> None:
        """Each VPC host's routes from its subnet's route table, as EC2 describes it.

        The VPC's local route comes with the host's address (its prefix is
        the VPC's), as in every AWS route table; what goes to the VPN
        gateway or a NAT gateway follows the table, now and after a change
        (faults).
        """
        tables = self._route_tables()
        for name, host_info in self.record.vpc_hosts.items():
            host = netns.Namespace(name)
            wanted = tables.get(host_info["subnet"], {})
            present = self.record.routes.get(name, {})
            if isinstance(present, list):  # an older record: VPN routes only
                present = {d: str(self.vgw_address) for d in present}
            for destination, via in present.items():
                if wanted.get(destination) != via:
                    netns.delete_route(host, _route_key(destination), via=via)
            for destination, via in wanted.items():
                if present.get(destination) != via:
                    netns.add_route(host, _route_key(destination), via=via)
            self.record.routes[name] = dict(wanted)

    def _route_tables(self) -> dict[str, dict[str, str]]:
        """Per private subnet (CIDR): destination -> next hop in the data plane."""
        subnets = {
            s["SubnetId"]: str(IPv4Network(s["CidrBlock"]))
            for s in self.ec2.describe_subnets(
                SubnetIds=list(self.outputs[keys.PRIVATE_SUBNET_IDS])
            )["Subnets"]
        }
        gateway = self.outputs[keys.VPN_GATEWAY_ID]
        nat_hops = {
            nat_id: nat["private_ip"]
            for nat_id, nat in self.record.nat_gateways.items()
        }
        routes: dict[str, dict[str, str]] = {}
        for table in self.ec2.describe_route_tables(
            RouteTableIds=list(self.outputs[keys.PRIVATE_ROUTE_TABLE_IDS])
        )["RouteTables"]:
            hops = {}
            for route in table.get("Routes", []):
                destination = route.get("DestinationCidrBlock")
                if destination is None:
                    continue
                if route.get("GatewayId") == gateway:
                    hops[destination] = str(self.vgw_address)
                elif route.get("NatGatewayId") in nat_hops:
                    hops[destination] = nat_hops[route["NatGatewayId"]]
            for association in table.get("Associations", []):
                if association.get("SubnetId") in subnets:
                    routes[subnets[association["SubnetId"]]] = hops
        return routes

    # -- egress: NAT gateways, the platform's app host --------------------------

    def _nat_gateways(self, internet: netns.Namespace, vpc: netns.Namespace) -> None:
        """Each NAT gateway: its private IP in the VPC, source NAT to its Elastic IP."""
        nat_ids = list(self.outputs.get(keys.NAT_GATEWAY_IDS) or [])
        if not nat_ids:
            return
        gateways = self.ec2.describe_nat_gateways(NatGatewayIds=nat_ids)["NatGateways"]
        for number, gateway in enumerate(gateways, start=1):
            (address,) = gateway["NatGatewayAddresses"][:1]
            host = self._namespace(f"nat{number}", router=True)
            netns.veth(vpc, f"nat{number}", host, "vpc0")
            netns.enslave(vpc, f"nat{number}", "br0")
            netns.add_address(
                host, "vpc0", f"{address['PrivateIp']}/{self.vpc_cidr.prefixlen}"
            )
            self._public_host(internet, host, f"nat{number}", [address["PublicIp"]])
            firewall.apply(
                host.name,
                firewall.nat_gateway_ruleset(
                    outside_if="inet0",
                    elastic_ip=address["PublicIp"],
                    private_networks=[str(self.vpc_cidr)],
                ),
            )
            self.record.nat_gateways[gateway["NatGatewayId"]] = {
                "namespace": host.name,
                "private_ip": address["PrivateIp"],
                "public_ip": address["PublicIp"],
            }

    def move_elastic_ip(self, nat_id: str, public_ip: str) -> None:
        """The NAT gateway's traffic leaves from `public_ip` from now on."""
        nat = self.record.nat_gateways[nat_id]
        host = netns.Namespace(nat["namespace"])
        internet = netns.Namespace(f"{self.prefix}-inet")
        label = nat["namespace"].rsplit("-", 1)[-1]
        netns.add_address(host, "inet0", f"{public_ip}/32")
        netns.add_route(internet, f"{public_ip}/32", dev=label)
        firewall.apply(
            host.name,
            firewall.nat_gateway_ruleset(
                outside_if="inet0",
                elastic_ip=public_ip,
                private_networks=[str(self.vpc_cidr)],
            ),
        )
        netns.delete_address(host, "inet0", f"{nat['public_ip']}/32")
        netns.delete_route(internet, f"{nat['public_ip']}/32", dev=label)
        nat["public_ip"] = public_ip

    def _app_host(self, vpc: netns.Namespace) -> IPv4Address | None:
        """The platform's app host, which calls out (options 3 and 5)."""
        if not self.record.nat_gateways:
            return None
        subnet = IPv4Network(
            self.ec2.describe_subnets(
                SubnetIds=[self.outputs[keys.PRIVATE_SUBNET_IDS][0]]
            )["Subnets"][0]["CidrBlock"]
        )
        address = _host(subnet, 100)
        host = self._namespace("app")
        netns.veth(vpc, "app", host, "eth0")
        netns.enslave(vpc, "app", "br0")
        netns.add_address(host, "eth0", f"{address}/{self.vpc_cidr.prefixlen}")
        self.record.vpc_hosts[host.name] = {
            "address": str(address),
            "subnet": str(subnet),
        }
        return address

    # -- option 3 via VPN: the load balancer and the on-premises database ---------

    def _remote_databases_via_vpn(self) -> list[Any]:
        from exchange.config.model import VpnTarget

        return [
            e for e in self.config.remote_databases() if isinstance(e.target, VpnTarget)
        ]

    def _load_balancers(self, vpc: netns.Namespace) -> None:
        """Each NLB: a TCP forwarder at an address of its subnet, with real probes."""
        from simulator import nlb

        gateways = self.outputs.get(keys.REMOTE_DATABASES) or {}
        if not gateways:
            return
        elbv2 = self.elbv2
        subnet = IPv4Network(
            self.ec2.describe_subnets(
                SubnetIds=[self.outputs[keys.PRIVATE_SUBNET_IDS][0]]
            )["Subnets"][0]["CidrBlock"]
        )
        for number, gateway in enumerate(gateways.values(), start=1):
            group_arn = gateway[keys.NLB_TARGET_GROUP_ARN]
            (group,) = elbv2.describe_target_groups(TargetGroupArns=[group_arn])[
                "TargetGroups"
            ]
            (balancer,) = elbv2.describe_load_balancers(
                LoadBalancerArns=group["LoadBalancerArns"]
            )["LoadBalancers"]
            (listener,) = elbv2.describe_listeners(
                LoadBalancerArn=balancer["LoadBalancerArn"]
            )["Listeners"]
            (target,) = elbv2.describe_target_health(TargetGroupArn=group_arn)[
                "TargetHealthDescriptions"
            ]
            attributes = {
                a["Key"]: a["Value"]
                for a in elbv2.describe_listener_attributes(
                    ListenerArn=listener["ListenerArn"]
                ).get("Attributes", [])
            }
            address = _host(subnet, 19 + number)
            host = self._namespace(f"nlb{number}")
            netns.veth(vpc, f"nlb{number}", host, "eth0")
            netns.enslave(vpc, f"nlb{number}", "br0")
            netns.add_address(host, "eth0", f"{address}/{self.vpc_cidr.prefixlen}")
            self.record.vpc_hosts[host.name] = {
                "address": str(address),
                "subnet": str(subnet),
            }
            self.record.hosts[balancer["DNSName"]] = str(address)
            groups = self.ec2.describe_security_groups(
                GroupIds=balancer.get("SecurityGroups", [])
            )["SecurityGroups"]
            firewall.apply(host.name, firewall.security_group_ruleset(groups))
            folder = self.home / "nlb" / self.record.customer
            folder.mkdir(parents=True, exist_ok=True)
            spec = nlb.write_spec(
                folder,
                listen=(str(address), int(listener["Port"])),
                target=(target["Target"]["Id"], int(target["Target"]["Port"])),
                health_check=group,
                idle_timeout_s=int(
                    attributes.get("tcp.idle_timeout.seconds", NLB_IDLE_TIMEOUT_S)
                ),
                # The simulator need not wait AWS's 10-300 s between probes.
                probe_interval_s=1.0,
            )
            self._servers.append(
                functools.partial(nlb.start, host.name, spec, on_started=self.track)
            )
            self.record.load_balancers[group_arn] = {
                "namespace": host.name,
                "address": str(address),
                "port": int(listener["Port"]),
                "target": target["Target"]["Id"],
                "target_port": int(target["Target"]["Port"]),
                "health": str(nlb.health_file_of(spec)),
            }

    def _start_on_premises_database(self, number: int, exchange: Any) -> None:
        """The customer's own database at its configured address on the site."""
        address = exchange.target.address
        network = next(
            (n for n in self.config.on_premises.networks if address in n), None
        )
        if network is None:
            raise DataPlaneError(
                f"{exchange.name}: {address} is in no on-premises network"
            )
        name = f"onprem-{exchange.name}"
        host = self._namespace(f"odb{number}")
        site = self._site_namespace()
        netns.veth(site, host.name[-4:], host, "eth0")
        netns.enslave(site, host.name[-4:], "br0")
        netns.add_address(host, "eth0", f"{address}/{network.prefixlen}")
        netns.add_route(host, "0.0.0.0/0", via=str(_host(network, 1)))
        with netns.entered(host):
            instance = mariadb.start_instance(
                f"{self.record.customer}-{name}",
                self.home / "mariadb",
                tls=None,
                require_tls=False,
                on_started=lambda pid: self.track(pid, f"mariadb {name}"),
                socket_dir=self.socket_dir,
                bind_address=str(address),
                port=exchange.target.port,
            )
        # The customer's firewall and database admit the VPC's network, which
        # the load balancer connects from (client IP preservation off).
        mariadb.admit_network(instance, str(self.vpc_cidr), "platform")
        self.record.on_premises[exchange.name] = host.name

    # -- option 4: the platform's file storage, a public service ------------------

    def _file_storage_endpoint(self, internet: netns.Namespace) -> None:
        """The S3 endpoint at a public address of the internet, over HTTPS.

        The relay in the AWS API's process ends TLS with a certificate from
        the simulator's CA for S3's regional name, and passes the requests
        on to moto in plain HTTP. The endpoint's names resolve to it from
        every vantage point.
        """
        if not self.config.file_storages():
            return
        netns.add_address(internet, "lo", f"{FILE_STORAGE_ENDPOINT}/32")
        names = [f"s3.{self.config.region}.amazonaws.com", "s3.amazonaws.com"]
        for name in names:
            self.record.hosts[name] = str(FILE_STORAGE_ENDPOINT)
        tls = self.server_tls("s3", names[0], str(FILE_STORAGE_ENDPOINT))
        self.record.relays.append(
            {
                "netns": internet.name,
                "address": str(FILE_STORAGE_ENDPOINT),
                "port": 443,
                "tls": {"cert": str(tls.cert), "key": str(tls.key)},
            }
        )

    def _checkip_endpoint(self, internet: netns.Namespace) -> None:
        """checkip.amazonaws.com: tells a caller the address it arrives from."""
        netns.add_address(internet, "lo", f"{CHECKIP_ENDPOINT}/32")
        self.record.hosts[CHECKIP_HOST] = str(CHECKIP_ENDPOINT)
        self.record.relays.append(
            {
                "netns": internet.name,
                "address": str(CHECKIP_ENDPOINT),
                "port": 80,
                "echo": True,
            }
        )

    def missing_stand_ins(self) -> dict[str, str]:
        """Endpoints of the configuration the data plane does not serve, and why."""
        from exchange.config.model import WhitelistTarget

        missing = {}
        for exchange in self.config.remote_databases():
            target = exchange.target
            if isinstance(target, WhitelistTarget) and not _is_address(target.host):
                missing[f"{target.host}:{target.port}"] = (
                    f"{exchange.name}: the simulator stands in for a database reached "
                    f"over the internet only at an IP address, not at {target.host}"
                )
        return missing

    def _whitelisted_databases(
        self, internet: netns.Namespace, cgw: netns.Namespace
    ) -> None:
        """Each database the platform reaches over the internet: a TCP listener.

        It stands at the database's public address behind the customer's
        firewall, which admits the platform's egress IPs on its port. It
        accepts connections and speaks no database protocol: what it proves
        is the path and the whitelist, which is all the platform's side of
        such an exchange controls.
        """
        from exchange.config.model import WhitelistTarget

        lan_address = str(_host(self.config.on_premises.networks[0], 1))
        gateway_ip = str(self.config.on_premises.customer_gateway_ip)
        ports = self.config.whitelist.ports if self.config.whitelist else ()
        whitelisted = [
            e
            for e in self.config.remote_databases()
            if isinstance(e.target, WhitelistTarget) and _is_address(e.target.host)
        ]
        for number, exchange in enumerate(whitelisted, start=1):
            address, port = exchange.target.host, exchange.target.port
            host = self._namespace(f"wdb{number}")
            netns.veth(self._site_namespace(), f"wdb{number}", host, "eth0")
            netns.enslave(self._site_namespace(), f"wdb{number}", "br0")
            netns.add_address(host, "eth0", f"{address}/32")
            netns.add_route(host, "0.0.0.0/0", via=lan_address, dev="eth0", onlink=True)
            netns.add_route(cgw, f"{address}/32", dev="lan0")
            netns.add_route(
                internet, f"{address}/32", via=gateway_ip, dev="cgw", onlink=True
            )
            self.record.relays.append(
                {"netns": host.name, "address": address, "port": port, "accept": True}
            )
            if port in ports:
                for egress_ip in self.outputs.get(keys.EGRESS_IPS) or []:
                    self.record.whitelist.append([egress_ip, address, port])

    # -- the customer's web services ------------------------------------------------

    def _web_services(self, internet: netns.Namespace, cgw: netns.Namespace) -> None:
        """Each site the platform calls: an HTTPS server behind the customer's firewall.

        Its public address is one the simulator gives the site's name (the
        customer's DNS would); the customer's firewall admits it from the
        whitelisted egress IPs only (EXC-09).
        """
        from simulator import web_service

        services = self.config.web_services()
        if not services:
            return
        lan_address = str(_host(self.config.on_premises.networks[0], 1))
        gateway_ip = str(self.config.on_premises.customer_gateway_ip)
        secrets = {}
        for service in services:
            for secret in service.auth.secrets():
                secrets[service.name] = secret.resolve()
        for number, site in enumerate(web_service.sites(services), start=1):
            address = str(WEB_SERVICE_BASE + number)
            host = self._namespace(f"web{number}")
            netns.veth(self._site_namespace(), f"web{number}", host, "eth0")
            netns.enslave(self._site_namespace(), f"web{number}", "br0")
            netns.add_address(host, "eth0", f"{address}/32")
            netns.add_route(host, "0.0.0.0/0", via=lan_address, dev="eth0", onlink=True)
            netns.add_route(cgw, f"{address}/32", dev="lan0")
            # The provider routes the address to the customer's gateway.
            netns.add_route(
                internet, f"{address}/32", via=gateway_ip, dev="cgw", onlink=True
            )
            self.record.hosts[site.host] = address
            folder = self.home / "web" / f"{self.record.customer}-{number}"
            folder.mkdir(parents=True, exist_ok=True)
            tls = self.server_tls(site.host, site.host, address)
            spec = web_service.write_spec(
                folder,
                services,
                listen=("0.0.0.0", site.port),
                cert=tls.cert,
                key=tls.key,
                secrets=secrets,
                site=site,
                schema_folder=self.config.source.parent,
            )
            self._servers.append(
                functools.partial(
                    web_service.start, host.name, spec, on_started=self.track
                )
            )
            self.record.web_services[f"{site.host}:{site.port}"] = {
                "namespace": host.name,
                "address": address,
                "spec": str(spec),
            }
            ports = self.config.whitelist.ports if self.config.whitelist else ()
            if site.port in ports:
                for egress_ip in self.outputs.get(keys.EGRESS_IPS) or []:
                    self.record.whitelist.append([egress_ip, address, site.port])

    def _site_namespace(self) -> netns.Namespace:
        return netns.Namespace(f"{self.prefix}-site")

    def apply_security_groups(self, instance: str) -> None:
        """The instance's security groups as EC2 describes them now, as nftables."""
        database = self.record.databases[instance]
        groups = self.ec2.describe_security_groups(
            GroupIds=database["security_groups"]
        )["SecurityGroups"]
        firewall.apply(database["namespace"], firewall.security_group_ruleset(groups))


def _is_address(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


def _route_key(destination: str) -> str:
    return "default" if destination == "0.0.0.0/0" else destination


def load_nft(namespace: str, ruleset: Path) -> None:
    """Load an nftables file into a namespace, as the device would load it."""
    result = subprocess.run(
        ["ip", "netns", "exec", namespace, "nft", "-f", str(ruleset)],
        capture_output=True,
        text=True,
        timeout=10,
    )
    if result.returncode != 0:
        raise DataPlaneError(f"{ruleset.name} in {namespace}: {result.stderr.strip()}")


# What building a customer's network may fail with, each with its reason.
DATA_PLANE_FAILURES = _failures()
