"""Faults on purpose: break one thing in a customer's simulated network, and heal it.

Each fault changes what its name says, where a real one would happen: a
tunnel's AWS endpoint, the security group in the cloud's API (and so the
host's nftables), the VPN connection's static route (and so the routes the
VPC's hosts learn), the path's ICMP, the database server. A check then sees
the symptom from the outside, as it would on a real network. Active faults
are recorded (`faults.json` in the simulator's folder) so that `heal` undoes
exactly them, in reverse order.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra import outputs as keys

if TYPE_CHECKING:
    from simulator.cloud import SimulatedCloud
    from simulator.dataplane import CustomerNetwork

log = logging.getLogger("simulator")

FAULTS_FILE = "faults.json"


@dataclass(frozen=True)
class FaultKind:
    name: str
    what: str


KINDS = {
    kind.name: kind
    for kind in (
        FaultKind("tunnel-down", "tunnel 1's AWS endpoint closes it and refuses it"),
        FaultKind("tunnels-down", "both tunnels' AWS endpoints close them"),
        FaultKind("wrong-key", "tunnel 1's AWS endpoint takes another pre-shared key"),
        FaultKind(
            "sg-missing-client-network",
            "the database's security group loses the rule for the client network",
        ),
        FaultKind(
            "route-removed",
            "the VPN connection loses the static route to the client network",
        ),
        FaultKind(
            "mtu-black-hole",
            "the customer gateway's MSS clamp is off and ICMP fragmentation-needed "
            "is dropped on the path",
        ),
        FaultKind("database-stopped", "the app database is stopped"),
        FaultKind(
            "whitelist-missing-egress-ip",
            "the customer's firewall no longer admits the platform's egress IP",
        ),
        FaultKind(
            "web-service-slow",
            "the customer's first web service answers after its read timeout",
        ),
        FaultKind("web-service-errors", "the customer's first web service answers 503"),
        FaultKind(
            "nat-ip-changed",
            "the platform's NAT gateway leaves from a new Elastic IP, which the "
            "customer has not whitelisted",
        ),
    )
}


class FaultError(Exception):
    """The fault cannot be injected or healed here; the message says why."""


class Faults:
    """Inject and heal faults in one customer's network."""

    def __init__(self, cloud: SimulatedCloud, customer: str) -> None:
        self.cloud = cloud
        self.customer = customer
        self.network: CustomerNetwork = cloud.customer_network(customer)
        self.record = self.network.record

    # -- the ledger --------------------------------------------------------------

    @property
    def _file(self) -> Path:
        return self.cloud.home / FAULTS_FILE

    def _ledger(self) -> dict[str, list[dict[str, Any]]]:
        if not self._file.exists():
            return {}
        return json.loads(self._file.read_text())

    def active(self) -> list[dict[str, Any]]:
        return self._ledger().get(self.customer, [])

    def _save(self, active: list[dict[str, Any]]) -> None:
        ledger = self._ledger()
        ledger[self.customer] = active
        self._file.write_text(json.dumps(ledger, indent=2) + "\n")

    # -- inject and heal ---------------------------------------------------------

    def inject(self, name: str) -> str:
        kind = KINDS.get(name)
        if kind is None:
            raise FaultError(f"no fault {name!r}; choose from {', '.join(KINDS)}")
        if any(f["kind"] == name for f in self.active()):
            raise FaultError(f"{name} is already in force for {self.customer}")
        undo = getattr(self, "_" + name.replace("-", "_"))()
        self._save([*self.active(), {"kind": name, "undo": undo}])
        log.info("fault %s injected for %s", name, self.customer)
        return kind.what

    def heal(self) -> list[str]:
        """Undo every active fault, newest first; returns their names."""
        healed = []
        active = self.active()
        while active:
            fault = active[-1]
            getattr(self, "_heal_" + fault["kind"].replace("-", "_"))(fault["undo"])
            healed.append(fault["kind"])
            # Saved after each: a heal that fails leaves only what is still
            # broken in the ledger, and the next heal starts there.
            active = active[:-1]
            self._save(active)
        return healed

    # -- the tunnels ---------------------------------------------------------------

    def _side(self) -> Any:
        from simulator import ipsec

        connection = self._connection()
        config = self.network.config
        return ipsec.aws_side(
            connection,
            config.on_premises.customer_gateway_ip,
            on_premises_networks=config.on_premises.networks,
            vpc_cidr=config.vpc.cidr,
            routing=config.on_premises.routing,
        )

    def _charon(self, role: str) -> Any:
        from simulator import ipsec

        namespace = self.record.aws_vpn if role == "aws" else self.record.cgw
        return ipsec.Charon.attach(namespace, Path(self.record.charon_folders[role]))

    def _connection(self) -> dict[str, Any]:
        (connection,) = self.network.ec2.describe_vpn_connections(
            VpnConnectionIds=[self.network.outputs[keys.VPN_CONNECTION_ID]]
        )["VpnConnections"]
        return connection

    def _tunnel_down(self) -> dict[str, Any]:
        from simulator import ipsec

        ipsec.break_tunnel(self._charon("aws"), self._side(), 1)
        return {"tunnels": [1]}

    def _tunnels_down(self) -> dict[str, Any]:
        from simulator import ipsec

        side, charon = self._side(), self._charon("aws")
        for number in (1, 2):
            ipsec.break_tunnel(charon, side, number)
        return {"tunnels": [1, 2]}

    def _heal_tunnel_down(self, undo: dict[str, Any]) -> None:
        from simulator import ipsec

        side, charon = self._side(), self._charon("aws")
        for number in undo["tunnels"]:
            ipsec.restore_tunnel(charon, side, number, customer=self._charon("cgw"))
        self._wait_tunnels_up()

    _heal_tunnels_down = _heal_tunnel_down

    def _wrong_key(self) -> dict[str, Any]:
        from simulator import ipsec

        ipsec.wrong_key(self._charon("aws"), self._side(), 1)
        return {"tunnel": 1}

    def _heal_wrong_key(self, undo: dict[str, Any]) -> None:
        from simulator import ipsec

        ipsec.restore_key(
            self._charon("aws"),
            self._side(),
            undo["tunnel"],
            customer=self._charon("cgw"),
        )
        self._wait_tunnels_up()

    def _wait_tunnels_up(self, timeout_s: float = 20.0) -> None:
        cgw = self._charon("cgw")
        names = [t["name"] for t in self.record.tunnels]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            states = cgw.tunnels()
            if all(states.get(n) and states[n].up for n in names):
                return
            time.sleep(0.1)
        raise FaultError(f"the tunnels did not come back within {timeout_s:.0f} s")

    # -- the security group ------------------------------------------------------

    def _first_database(self) -> tuple[str, dict[str, Any]]:
        if not self.record.databases:
            raise FaultError(f"{self.customer} has no app database to break")
        return next(iter(self.record.databases.items()))

    def _client_network(self) -> str:
        databases = self.network.config.app_databases()
        if not databases or not databases[0].client_networks:
            raise FaultError(f"{self.customer} has no client network to take away")
        return str(databases[0].client_networks[0])

    def _sg_missing_client_network(self) -> dict[str, Any]:
        instance, database = self._first_database()
        network = self._client_network()
        ec2 = self.network.ec2
        removed = []
        for group_id in database["security_groups"]:
            rules = ec2.describe_security_group_rules(
                Filters=[{"Name": "group-id", "Values": [group_id]}]
            )["SecurityGroupRules"]
            for rule in rules:
                if not rule["IsEgress"] and rule.get("CidrIpv4") == network:
                    ec2.revoke_security_group_ingress(
                        GroupId=group_id,
                        SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]],
                    )
                    removed.append(
                        {
                            "group": group_id,
                            "protocol": rule["IpProtocol"],
                            "from": rule.get("FromPort"),
                            "to": rule.get("ToPort"),
                            "cidr": network,
                            "description": rule.get("Description", ""),
                        }
                    )
        if not removed:
            raise FaultError(f"no security group of {instance} admits {network}")
        self.network.apply_security_groups(instance)
        return {"instance": instance, "rules": removed}

    def _heal_sg_missing_client_network(self, undo: dict[str, Any]) -> None:
        for rule in undo["rules"]:
            permission: dict[str, Any] = {
                "IpProtocol": rule["protocol"],
                "IpRanges": [
                    {"CidrIp": rule["cidr"], "Description": rule["description"]}
                ],
            }
            if rule["from"] is not None:
                permission["FromPort"], permission["ToPort"] = rule["from"], rule["to"]
            self.network.ec2.authorize_security_group_ingress(
                GroupId=rule["group"], IpPermissions=[permission]
            )
        self.network.apply_security_groups(undo["instance"])

    # -- the route -----------------------------------------------------------------

    def _route_removed(self) -> dict[str, Any]:
        if self.network.config.on_premises.routing != "static":
            raise FaultError("route-removed needs static routing; this VPN uses BGP")
        network = self._client_network()
        connection_id = self.network.outputs[keys.VPN_CONNECTION_ID]
        self.network.ec2.delete_vpn_connection_route(
            VpnConnectionId=connection_id, DestinationCidrBlock=network
        )
        self._sync_routes()
        return {"connection": connection_id, "cidr": network}

    def _heal_route_removed(self, undo: dict[str, Any]) -> None:
        self.network.ec2.create_vpn_connection_route(
            VpnConnectionId=undo["connection"], DestinationCidrBlock=undo["cidr"]
        )
        self._sync_routes()

    def _sync_routes(self) -> None:
        self.network.sync_routes()
        self.cloud.save_dataplane_record(self.record)

    # -- MTU -------------------------------------------------------------------------

    def _mtu_black_hole(self) -> dict[str, Any]:
        from exchange.vpn_device import firewall_table
        from simulator import firewall

        firewall.apply(
            self.record.cgw,
            firewall.mtu_black_hole_ruleset(
                clamp_tables=[firewall_table(self.network.config.customer.slug)]
            ),
        )
        firewall.apply(self.record.aws_vpn, firewall.mtu_black_hole_ruleset())
        self._flush_route_caches()
        return {}

    def _heal_mtu_black_hole(self, undo: dict[str, Any]) -> None:
        from exchange import vpn_device
        from simulator import firewall
        from simulator.dataplane import load_nft

        for namespace in (self.record.cgw, self.record.aws_vpn):
            firewall.flush(namespace, firewall.MTU_BLACK_HOLE_TABLE)
        folder = Path(self.record.charon_folders["cgw"]) / "swanctl"
        load_nft(self.record.cgw, folder / vpn_device.FIREWALL_NFT)
        self._flush_route_caches()

    def _flush_route_caches(self) -> None:
        # A learned path MTU is remembered for minutes (LAB-NOTES).
        for namespace in self.record.namespaces:
            subprocess.run(
                ["ip", "-n", namespace, "route", "flush", "cache"],
                capture_output=True,
                timeout=5,
                check=False,
            )

    # -- the database ------------------------------------------------------------

    def _database_stopped(self) -> dict[str, Any]:
        instance, _ = self._first_database()
        self.network.rds.stop_db_instance(DBInstanceIdentifier=instance)
        self.cloud.stop_tracked(f"mariadb {instance}")
        return {"instance": instance}

    def _heal_database_stopped(self, undo: dict[str, Any]) -> None:
        self.network.rds.start_db_instance(DBInstanceIdentifier=undo["instance"])
        self.network.start_database(undo["instance"])

    # -- the whitelist, the NAT gateway ------------------------------------------

    def _apply_customer_firewall(self) -> None:
        from simulator import firewall

        firewall.apply(self.record.cgw, self.network.customer_firewall())
        self.cloud.save_dataplane_record(self.record)

    def _platform_nat(self) -> tuple[str, dict[str, str]]:
        """The NAT gateway the platform's app host leaves through (its zone's)."""
        if not self.record.nat_gateways:
            raise FaultError(f"{self.customer} has no NAT gateway, so no egress IP")
        app = f"{self.record.prefix}-app"
        hop = self.record.routes.get(app, {}).get("0.0.0.0/0")
        for nat_id, nat in self.record.nat_gateways.items():
            if nat["private_ip"] == hop:
                return nat_id, nat
        return next(iter(self.record.nat_gateways.items()))

    def _first_egress_ip(self) -> str:
        return self._platform_nat()[1]["public_ip"]

    def _whitelist_missing_egress_ip(self) -> dict[str, Any]:
        egress_ip = self._first_egress_ip()
        removed = [e for e in self.record.whitelist if e[0] == egress_ip]
        if not removed:
            raise FaultError(f"the customer's firewall does not admit {egress_ip}")
        self.record.whitelist = [e for e in self.record.whitelist if e[0] != egress_ip]
        self._apply_customer_firewall()
        return {"entries": removed}

    def _heal_whitelist_missing_egress_ip(self, undo: dict[str, Any]) -> None:
        self.record.whitelist += [
            e for e in undo["entries"] if e not in self.record.whitelist
        ]
        self._apply_customer_firewall()

    def _nat_ip_changed(self) -> dict[str, Any]:
        if not self.record.nat_gateways:
            raise FaultError(f"{self.customer} has no NAT gateway")
        nat_id, nat = self._platform_nat()
        old = nat["public_ip"]
        allocated = self.network.ec2.allocate_address(Domain="vpc")
        self.network.move_elastic_ip(nat_id, allocated["PublicIp"])
        self.cloud.save_dataplane_record(self.record)
        return {"nat": nat_id, "old": old, "allocation": allocated["AllocationId"]}

    def _heal_nat_ip_changed(self, undo: dict[str, Any]) -> None:
        self.network.move_elastic_ip(undo["nat"], undo["old"])
        self.network.ec2.release_address(AllocationId=undo["allocation"])
        self.cloud.save_dataplane_record(self.record)

    # -- the web service -----------------------------------------------------------

    def _first_web_service(self) -> tuple[Path, Any]:
        from simulator.web_service import sites

        services = self.network.config.web_services()
        if not self.record.web_services or not services:
            raise FaultError(f"{self.customer} has no web service")
        service = services[0]
        (site,) = [s for s in sites([service]) if s.host in service.url] or sites(
            [service]
        )[:1]
        where = self.record.web_services[f"{site.host}:{site.port}"]
        return Path(where["spec"]), service

    def _web_service_slow(self) -> dict[str, Any]:
        from simulator.web_service import set_fault

        spec, service = self._first_web_service()
        # Late enough that the platform's configured read timeout expires.
        set_fault(spec, "slow", delay_s=service.read_timeout_seconds + 2)
        return {"spec": str(spec)}

    def _web_service_errors(self) -> dict[str, Any]:
        from simulator.web_service import set_fault

        spec, _ = self._first_web_service()
        set_fault(spec, "errors", status=503)
        return {"spec": str(spec)}

    def _heal_web_service_slow(self, undo: dict[str, Any]) -> None:
        from simulator.web_service import set_fault

        set_fault(Path(undo["spec"]), "normal")

    _heal_web_service_errors = _heal_web_service_slow
