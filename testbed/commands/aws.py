"""The JSON of the views in the shapes of the AWS CLI (`aws ec2 describe-instances`,
`describe-security-groups`, `describe-flow-logs`), built from the topology model and what the
running lab says.  Pure: no lab needed."""
from controllers.router.flow_log import HEADER
from testbed.fabric.firewall_config import account_id, rule
from testbed.topology import firewall_format

PROTOCOL_NAMES = {v: k for k, v in firewall_format.PROTOCOLS.items()}


def _groups(vpc, names):
    return [dict(GroupId=vpc.security_groups[g].id, GroupName=g) for g in names if g in vpc.security_groups]


def instance(topo, inst, host=None, state='running'):
    """One instance as describe-instances shows it; host: where it runs now (else where placed)."""
    vpc = topo.vpcs[inst.vpc]
    subnet = vpc.subnets[inst.subnet]
    placement = dict(AvailabilityZone=subnet.az, HostId=host or inst.host, Tenancy=inst.tenancy)
    if inst.placement_group:
        placement['GroupName'] = inst.placement_group
    if inst.partition:
        placement['PartitionNumber'] = inst.partition
    groups = _groups(vpc, inst.security_groups)
    return dict(
        InstanceId=inst.id, InstanceType=inst.type, Placement=placement,
        PrivateIpAddress=inst.ip, SubnetId=subnet.id, VpcId=vpc.id, State=dict(Name=state),
        SecurityGroups=groups, Tags=[dict(Key='Name', Value=inst.name)],
        NetworkInterfaces=[dict(
            NetworkInterfaceId=inst.eni, MacAddress=inst.mac, PrivateIpAddress=inst.ip, SubnetId=subnet.id,
            VpcId=vpc.id, OwnerId=account_id(inst.account), Groups=groups, Status='in-use',
            PrivateIpAddresses=[dict(Primary=True, PrivateIpAddress=inst.ip)])])


def describe_instances(topo, where=None):
    """{'Reservations': [...]}: one reservation per account, as `aws ec2 describe-instances`;
    where: instance name -> host now (an instance missing from it is 'stopped')."""
    reservations = {}
    for inst in topo.instances():
        running = where is None or inst.name in where
        host = where.get(inst.name) if where else None
        reservations.setdefault(inst.account, []).append(
            instance(topo, inst, host, 'running' if running else 'stopped'))
    return dict(Reservations=[dict(OwnerId=account_id(account), ReservationId=f'r-{account_id(account)}',
                                   Instances=instances) for account, instances in reservations.items()])


def ip_permission(r, vpc):
    """One rule (the API's dict: protocol, ports, peer) as an IpPermission."""
    out = dict(IpProtocol=PROTOCOL_NAMES.get(r['protocol'], str(r['protocol'])) if r['protocol'] is not None
               else '-1')
    if r.get('ports'):
        out['FromPort'], out['ToPort'] = r['ports']
    elif r['protocol'] == 1:
        out['FromPort'], out['ToPort'] = -1, -1
    peer = r['peer']
    if peer.startswith('sg:'):
        group = vpc.security_groups.get(peer[3:])
        out.update(IpRanges=[], UserIdGroupPairs=[dict(GroupId=group.id if group else peer, GroupName=peer[3:])])
    else:
        out.update(IpRanges=[dict(CidrIp=peer)], UserIdGroupPairs=[])
    return out


def security_group(vpc, name, rules=None):
    """describe-security-groups' entry for group `name` of vpc (rules: the API's view, else the file's)."""
    group = vpc.security_groups[name]
    if rules is None:
        rules = dict(inbound=[rule(r) for r in group.inbound], outbound=[rule(r) for r in group.outbound])
    return dict(GroupName=name, GroupId=group.id, VpcId=vpc.id, OwnerId=account_id(vpc.account),
                Description=f'{name} of {vpc.name}',
                IpPermissions=[ip_permission(r, vpc) for r in rules['inbound']],
                IpPermissionsEgress=[ip_permission(r, vpc) for r in rules['outbound']])


def describe_security_groups(vpc, name, rules=None):
    return dict(SecurityGroups=[security_group(vpc, name, rules)])


def describe_flow_logs(topo, records):
    """describe-flow-logs' FlowLogs (one per VPC that keeps them) with the records (AWS v2 fields)."""
    logs = [dict(FlowLogId=f'fl-{vpc.id[4:]}', ResourceId=vpc.id, TrafficType='ALL',
                 LogDestinationType='file', FlowLogStatus='ACTIVE', DeliverLogsStatus='SUCCESS',
                 LogFormat=' '.join(f'${{{f}}}' for f in HEADER.split()),
                 MaxAggregationInterval=vpc.flow_log_interval_s)
            for vpc in (topo.vpcs.values() if topo else ()) if vpc.flow_log_interval_s is not None]
    return dict(FlowLogs=logs, Records=[{f: r[f] for f in HEADER.split()} for r in records])
