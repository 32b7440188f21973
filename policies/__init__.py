"""The exchange policy pack: what no customer stack may be.

Against AWS the Pulumi CLI runs this folder as a policy pack
(`pulumi preview --policy-pack policies/`, `pulumi up --policy-pack
policies/`), every policy mandatory. In the simulator, which has no CLI, the
same policies are called directly on the resources the mocks saw:
`check_resource` before each resource is created, `check_stack` once the
program has run. Importing this package starts nothing.
"""

from policies.exchange_policies import (
    EGRESS_IPS,
    POLICIES,
    Violation,
    check_resource,
    check_stack,
)

__all__ = ["EGRESS_IPS", "POLICIES", "Violation", "check_resource", "check_stack"]
