"""Rules about how the tunnel options declared for a tunnel fit together.

Each option's own range or allowed values is in the schema (vpn.schema.json
names the rule in `x-rule`); what is left are the relations between options
and AWS's defaults for those the file leaves out.
"""

from __future__ import annotations

from collections.abc import Iterator

from exchange.config.model import (
    DEFAULT_PHASE1_LIFETIME_SECONDS,
    DEFAULT_PHASE2_LIFETIME_SECONDS,
    DEFAULT_STARTUP_ACTION,
    DocPath,
    Tunnel,
)
from exchange.config.problems import Problem
from exchange.config.rules.base import RuleContext, _error, _warning, rule

MIN_REKEY_MARGIN_TIME_SECONDS = 60


def _tunnels(context: RuleContext) -> Iterator[tuple[int, Tunnel, DocPath]]:
    """Each tunnel with its number as people count (1, 2) and its path."""
    for index, tunnel in enumerate(context.config.vpn.tunnels):
        yield index + 1, tunnel, ("vpn", "tunnels", index)


def _seconds(effective: int, written: int | None) -> str:
    return f"{effective} s" if written is not None else f"{effective} s, AWS's default"


@rule("VPN-15")
def tunnel_offers_ikev2(context: RuleContext) -> Iterator[Problem]:
    """A tunnel does not restrict IKE to IKEv1 (warning: AWS recommends IKEv2)."""
    for number, tunnel, path in _tunnels(context):
        if tunnel.ike_versions is not None and "ikev2" not in tunnel.ike_versions:
            yield _warning(
                (*path, "ikeVersions"),
                f"tunnel {number} allows only IKEv1, and AWS strongly recommends IKEv2",
                "add ikev2 to ikeVersions; keep IKEv1 only for a device that lacks "
                "IKEv2",
                "VPN-15",
            )


@rule("VPN-24")
def phase2_lifetime_is_below_phase1(context: RuleContext) -> Iterator[Problem]:
    """A tunnel's phase 2 lifetime is shorter than its phase 1 lifetime."""
    for number, tunnel, path in _tunnels(context):
        phase1 = tunnel.effective_phase1_lifetime_seconds
        phase2 = tunnel.effective_phase2_lifetime_seconds
        if phase2 < phase1:
            continue
        where = (*path, "phase2LifetimeSeconds")
        if tunnel.phase2_lifetime_seconds is None:
            where = (*path, "phase1LifetimeSeconds")
        yield _error(
            where,
            f"tunnel {number}'s phase 2 lifetime "
            f"({_seconds(phase2, tunnel.phase2_lifetime_seconds)}) is not shorter "
            f"than its phase 1 lifetime "
            f"({_seconds(phase1, tunnel.phase1_lifetime_seconds)}); the IPsec SA "
            "must expire before the IKE SA",
            "make phase2LifetimeSeconds smaller than phase1LifetimeSeconds, "
            f"e.g. phase 1 {DEFAULT_PHASE1_LIFETIME_SECONDS} s and phase 2 "
            f"{DEFAULT_PHASE2_LIFETIME_SECONDS} s, AWS's defaults",
            "VPN-24",
        )


@rule("VPN-25")
def rekey_margin_is_at_most_half_of_phase2(context: RuleContext) -> Iterator[Problem]:
    """A tunnel's rekey margin is at most half of its phase 2 lifetime."""
    for number, tunnel, path in _tunnels(context):
        margin = tunnel.rekey_margin_time_seconds
        phase2 = tunnel.effective_phase2_lifetime_seconds
        if margin is None or margin <= phase2 // 2:
            continue
        lifetime = _seconds(phase2, tunnel.phase2_lifetime_seconds)
        yield _error(
            (*path, "rekeyMarginTimeSeconds"),
            f"tunnel {number}'s rekey margin of {margin} s is more than half of "
            f"its phase 2 lifetime ({lifetime})",
            f"use a margin from {MIN_REKEY_MARGIN_TIME_SECONDS} to {phase2 // 2} s, "
            "or a longer phase2LifetimeSeconds",
            "VPN-25",
        )


@rule("VPN-29")
def dpd_timeout_is_explicit_with_its_action(context: RuleContext) -> Iterator[Problem]:
    """A tunnel that sets a DPD action also sets the DPD timeout (warning)."""
    for number, tunnel, path in _tunnels(context):
        if tunnel.dpd_timeout_action is None or tunnel.dpd_timeout_seconds is not None:
            continue
        yield _warning(
            (*path, "dpdTimeoutAction"),
            f"tunnel {number} sets dpdTimeoutAction: {tunnel.dpd_timeout_action} "
            "but not the timeout after which it happens, whose default AWS "
            "documents as 30 s in one place and 40 s in another",
            "write dpdTimeoutSeconds (e.g. 30) so that the device's dead peer "
            "detection can be set to match",
            "VPN-29",
        )


@rule("VPN-33")
def aws_initiated_tunnel_uses_ikev2(context: RuleContext) -> Iterator[Problem]:
    """A tunnel with `startupAction: start` allows IKEv2."""
    for number, tunnel, path in _tunnels(context):
        if tunnel.startup_action != "start":
            continue
        if "ikev2" in tunnel.effective_ike_versions:
            continue
        yield _error(
            (*path, "startupAction"),
            f"tunnel {number} lets AWS start the tunnel, which AWS does with IKEv2 "
            "only, but its ikeVersions allow only IKEv1",
            "add ikev2 to ikeVersions, or use startupAction: add so that the "
            "device starts the tunnel",
            "VPN-33",
        )


@rule("VPN-35")
def tunnels_to_remote_databases_are_kept_up(context: RuleContext) -> Iterator[Problem]:
    """Tunnels carrying AWS-initiated traffic are started by AWS (one warning a file).

    With `startupAction: add`, AWS's default, only the device starts a
    tunnel, and an idle one may go down after about ten seconds. Traffic the
    customer's systems send brings it back up from their side; a remote
    database reached through the VPN is called from AWS, which cannot.
    """
    callers = [d for d in context.config.remote_databases() if d.via == "vpn"]
    if not callers:
        return
    waiting = [
        (number, path)
        for number, tunnel, path in _tunnels(context)
        if (tunnel.startup_action or DEFAULT_STARTUP_ACTION) == "add"
    ]
    if not waiting:
        return
    number, path = waiting[0]
    if len(waiting) == 2:
        which = "both tunnels wait for your device to start them"
    else:
        which = f"tunnel {number} waits for your device to start it"
    yield _warning(
        (*path, "startupAction"),  # or the tunnel, when it is not written
        f"{which} (startupAction: add, AWS's "
        "default), and an idle tunnel may go down after about ten seconds; then "
        f"the platform cannot reach remote database {callers[0].name} until your "
        "device sends traffic",
        "write startupAction: start (IKEv2 only) on both tunnels so that AWS "
        "starts them, or keep traffic flowing with a keepalive (e.g. a periodic "
        "ping from your side)",
        "VPN-35",
    )
