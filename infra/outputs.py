"""Names of the stack outputs: the contract between the program and the checks.

The program exports under these keys; `exchange check` reads a stack's
outputs (from the simulator, or from `pulumi stack output --json` against
AWS) under the same keys.
"""

REGION = "region"
VPC_ID = "vpcId"
PRIVATE_SUBNET_IDS = "privateSubnetIds"
PRIVATE_ROUTE_TABLE_ID = "privateRouteTableId"
VPN_GATEWAY_ID = "vpnGatewayId"
CUSTOMER_GATEWAY_ID = "customerGatewayId"
VPN_CONNECTION_ID = "vpnConnectionId"
TUNNEL_OUTSIDE_IPS = "tunnelOutsideIps"
# One entry per app-database exchange, keyed by the exchange's name.
DATABASES = "databases"

# Keys inside each DATABASES entry.
DB_INSTANCE_ID = "instanceId"
DB_ADDRESS = "address"
DB_PORT = "port"
DB_SCHEMA = "schema"
DB_SECURITY_GROUP_ID = "securityGroupId"
DB_MASTER_USERNAME = "masterUsername"
DB_MASTER_SECRET_ARN = "masterUserSecretArn"
