"""Names of the stack outputs: the contract between the program and the checks.

The program exports under these keys; `exchange check` reads a stack's
outputs (from the simulator, or from `pulumi stack output --json` against
AWS) under the same keys, and the policy pack looks for EGRESS_IPS.
"""

REGION = "region"
CUSTOMER = "customer"
VPC_ID = "vpcId"
VPC_CIDR = "vpcCidr"
PRIVATE_SUBNET_IDS = "privateSubnetIds"
# One route table per zone's private subnet, in the order of the zones.
PRIVATE_ROUTE_TABLE_IDS = "privateRouteTableIds"
PUBLIC_SUBNET_IDS = "publicSubnetIds"
VPN_GATEWAY_ID = "vpnGatewayId"
AMAZON_SIDE_ASN = "amazonSideAsn"
CUSTOMER_GATEWAY_ID = "customerGatewayId"
VPN_CONNECTION_ID = "vpnConnectionId"
TUNNEL_OUTSIDE_IPS = "tunnelOutsideIps"
# Secret: both tunnels' pre-shared keys, for the customer's device.
TUNNEL_PRESHARED_KEYS = "tunnelPresharedKeys"
# The NAT gateways' Elastic IPs: what the customer must whitelist.
EGRESS_IPS = "egressIps"
NAT_GATEWAY_IDS = "natGatewayIds"

# One entry per app-database exchange (options 1 and 2), keyed by its name.
DATABASES = "databases"
DB_INSTANCE_ID = "instanceId"
DB_ADDRESS = "address"
DB_PORT = "port"
DB_SCHEMA = "schema"
DB_SECURITY_GROUP_ID = "securityGroupId"
DB_MASTER_USERNAME = "masterUsername"
DB_MASTER_SECRET_ARN = "masterUserSecretArn"

# One entry per remote-database exchange through the VPN (option 3), by name.
REMOTE_DATABASES = "remoteDatabases"
NLB_DNS_NAME = "dnsName"
NLB_PORT = "port"
NLB_TARGET_GROUP_ARN = "targetGroupArn"
NLB_SECURITY_GROUP_ID = "securityGroupId"
NLB_TARGET = "target"

# One entry per file-storage exchange (option 4), by name.
FILE_STORAGES = "fileStorages"
BUCKET_NAME = "bucket"
BUCKET_PREFIX = "prefix"
