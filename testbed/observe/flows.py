"""The flows of a physical host's bridge, as Open vSwitch prints them (ovs-ofctl dump-flows)."""
import subprocess

from controllers import pipeline


def table_number(word):
    """The table of a stage given by number or name (controllers/pipeline.py); ValueError
    names the stages when there is no such one."""
    try:
        return pipeline.stage(word).table
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None


def dump_flows(bridge, table=None):
    """ovs-ofctl's text of `bridge`'s flows, of one table if given (a number or a stage name)."""
    cmd = ['ovs-ofctl', '-O', 'OpenFlow13', 'dump-flows', bridge]
    if table is not None:
        cmd.append(f'table={table_number(table)}')
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f'ovs-ofctl dump-flows {bridge}: {out.stderr.strip()}')
    return out.stdout


def parse_flows(text):
    """ovs-ofctl dump-flows text -> one dict per flow: table, priority, n_packets, n_bytes, cookie,
    match (as written, without the statistics) and actions."""
    found = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith('cookie='):
            continue
        head, _, actions = line.partition(' actions=')
        fields, match = {}, []
        for part in head.replace(', ', ',').replace(' ', ',').split(','):
            key, eq, value = part.partition('=')
            if key in ('cookie', 'duration', 'table', 'n_packets', 'n_bytes', 'priority', 'idle_age',
                       'hard_age', 'idle_timeout', 'hard_timeout', 'reset_counts') and eq:
                fields[key] = value
            elif part:
                match.append(part)
        found.append(dict(table=fields.get('table', '0'), priority=int(fields.get('priority', 32768)),
                          n_packets=int(fields.get('n_packets', 0)), n_bytes=int(fields.get('n_bytes', 0)),
                          cookie=fields.get('cookie', '0x0'), match=','.join(match), actions=actions))
    return found
