"""The policy pack as the Pulumi CLI runs it (`--policy-pack policies/`).

The CLI runs this file with policies/ first on the path, in the virtualenv it
makes from requirements.txt; hence the top-level import. Building the
PolicyPack starts the analyzer's gRPC server and blocks while the CLI asks
it about each resource, so nothing else may run this file.
"""

from exchange_policies import POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name="exchange-policies",
    policies=list(POLICIES),
    enforcement_level=EnforcementLevel.MANDATORY,
    description="What no customer exchange stack may be: public or unencrypted "
    "databases, databases without TLS, database ports open to the internet, "
    "public buckets, half-configured VPN tunnels, unexported egress IPs.",
)
