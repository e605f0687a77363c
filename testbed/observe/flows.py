"""The flows of a physical host's bridge, as Open vSwitch prints them (ovs-ofctl dump-flows)."""
import subprocess

from controllers import pipeline


def table_number(word):
    """A table given by number, or by stage name once controllers/pipeline.py declares its stages
    (`stage(name_or_number)`, issue 7 item 1).  ValueError names what is wrong."""
    if str(word).isdigit():
        return int(word)
    stage = getattr(pipeline, 'stage', None)
    if stage is None:
        raise ValueError(f'{word!r} is not a table number')
    try:
        return stage(word).table
    except (KeyError, ValueError) as exc:
        raise ValueError(f'no pipeline stage {word!r} ({exc})') from None


def dump_flows(bridge, table=None):
    """ovs-ofctl's text of `bridge`'s flows, of one table if given (a number or a stage name)."""
    cmd = ['ovs-ofctl', '-O', 'OpenFlow13', 'dump-flows', bridge]
    if table is not None:
        cmd.append(f'table={table_number(table)}')
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f'ovs-ofctl dump-flows {bridge}: {out.stderr.strip()}')
    return out.stdout
