"""Rules about the BGP autonomous system numbers of the two ends of the VPN."""

from __future__ import annotations

from collections.abc import Iterator

from exchange.config.model import DEFAULT_AMAZON_SIDE_ASN, DEFAULT_CUSTOMER_GATEWAY_ASN
from exchange.config.problems import Problem
from exchange.config.rules.base import RuleContext, _error, _warning, rule

# VGW-01: the ASNs a virtual private gateway accepts.
AMAZON_SIDE_ASNS = (range(64512, 65535), range(4_200_000_000, 4_294_967_295))

# CGW-12 (unconfirmed): documented only as legacy default VGW ASNs.
LEGACY_AMAZON_ASNS_BY_REGION = {
    "ap-northeast-1": (10124,),
    "ap-southeast-1": (17493, 17943),
}

_BGP_ASN = ("onPremises", "bgpAsn")
_AMAZON_SIDE_ASN = ("vpn", "amazonSideAsn")


@rule("VGW-01")
def amazon_side_asn_is_private(context: RuleContext) -> Iterator[Problem]:
    """The Amazon-side ASN is a private ASN that a virtual private gateway accepts."""
    asn = context.config.vpn.amazon_side_asn
    if asn is None or any(asn in allowed for allowed in AMAZON_SIDE_ASNS):
        return
    yield _error(
        _AMAZON_SIDE_ASN,
        f"{asn} is not an ASN that a virtual private gateway accepts",
        "use a private ASN from 64512 to 65534 or from 4200000000 to 4294967294, "
        f"or leave amazonSideAsn out for AWS's default {DEFAULT_AMAZON_SIDE_ASN}",
        "VGW-01",
    )


@rule("CGW-10")
def customer_asn_is_not_7224(context: RuleContext) -> Iterator[Problem]:
    """The customer gateway ASN is not 7224 (error in us-east-1, warning elsewhere)."""
    if context.config.on_premises.bgp_asn != 7224:
        return
    hint = "use your device's own ASN, or a private one from 64512 to 65534"
    if context.config.region == "us-east-1":
        yield _error(
            _BGP_ASN,
            "7224 is reserved for customer gateways in us-east-1",
            hint,
            "CGW-10",
        )
    else:
        yield _warning(
            _BGP_ASN,
            f"7224 is reserved for customer gateways in us-east-1; whether it is "
            f"in {context.config.region} too is not documented (unconfirmed)",
            hint,
            "CGW-10",
        )


@rule("CGW-11")
def customer_asn_is_not_9059_in_eu_west_1(context: RuleContext) -> Iterator[Problem]:
    """The customer gateway ASN is not 9059 in eu-west-1."""
    config = context.config
    if config.on_premises.bgp_asn == 9059 and config.region == "eu-west-1":
        yield _error(
            _BGP_ASN,
            "9059 is reserved for customer gateways in eu-west-1",
            "use your device's own ASN, or a private one from 64512 to 65534",
            "CGW-11",
        )


@rule("CGW-12")
def customer_asn_is_not_a_legacy_amazon_asn(context: RuleContext) -> Iterator[Problem]:
    """The customer gateway ASN is not the region's legacy Amazon ASN (warning)."""
    config = context.config
    legacy = LEGACY_AMAZON_ASNS_BY_REGION.get(config.region, ())
    if config.on_premises.bgp_asn in legacy:
        yield _warning(
            _BGP_ASN,
            f"{config.on_premises.bgp_asn} was the default ASN of virtual private "
            f"gateways in {config.region}; AWS does not document it as reserved for "
            "customer gateways (unconfirmed), but it may clash",
            "use your device's own ASN, or a private one from 64512 to 65534",
            "CGW-12",
        )


@rule("CGW-13")
def customer_asn_differs_from_amazon_side(context: RuleContext) -> Iterator[Problem]:
    """The customer gateway ASN differs from the Amazon-side ASN."""
    customer_asn = context.config.on_premises.bgp_asn
    amazon_asn = context.config.vpn.amazon_side_asn
    customer = customer_asn or DEFAULT_CUSTOMER_GATEWAY_ASN
    amazon = amazon_asn or DEFAULT_AMAZON_SIDE_ASN
    if customer != amazon:
        return
    if customer_asn is None:
        yield _error(
            _AMAZON_SIDE_ASN,
            f"{amazon} is also the customer gateway's ASN (its default without "
            "onPremises.bgpAsn), and AWS needs the two ends to differ",
            "pick another amazonSideAsn from 64512 to 65534",
            "CGW-13",
        )
        return
    amazon_text = f"{amazon}" if amazon_asn else f"AWS's default {amazon}"
    yield _error(
        _BGP_ASN,
        f"{customer} is also the Amazon-side ASN ({amazon_text}), and AWS needs "
        "the two ends to differ",
        "give the customer gateway another ASN, or set vpn.amazonSideAsn to a "
        "different private ASN",
        "CGW-13",
    )


@rule("VPN-39")
def routing_is_chosen(context: RuleContext) -> Iterator[Problem]:
    """A file that leaves routing out hears that AWS recommends BGP (warning).

    Without `routing:` the VPN is routed statically. A file that writes
    `routing: static` has made its choice (a device without BGP), and is not
    told again.
    """
    if context.document.value(("onPremises", "routing")) is not None:
        return
    yield _warning(
        ("onPremises",),
        "routing is left out, so the VPN is routed statically; AWS recommends "
        "BGP-capable devices, whose BGP liveness detection fails over between "
        "the tunnels faster",
        "write routing: bgp and bgpAsn: with your device's ASN, or routing: static "
        "for a device without BGP",
        "VPN-39",
    )
