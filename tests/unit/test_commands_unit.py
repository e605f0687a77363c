"""The commands' grammar without a lab: shared parsers that report instead of exiting, names
checked before any request, and `vpclab flowlogs --file` on files that are not flow logs."""
import os

import pytest

from controllers.router.flow_log import HEADER
from testbed.commands import cli
from testbed.commands.grammar import HelpShown
from testbed.commands.lab_commands import COMMANDS
from testbed.errors import UsageError
from testbed.topology import load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECORD = '2 123456789012 eni-0a 10.0.1.10 10.0.1.11 40000 80 6 3 180 100 160 ACCEPT OK'


class Unreachable:
    """An API no command may call: the names were wrong."""

    def __getattr__(self, name):
        raise AssertionError(f'the API was asked ({name}) before the names were checked')


class FakeLab:
    api = Unreachable()
    flow_log_path = '/nonexistent/flow-logs.txt'

    def __init__(self):
        self.topology = load(os.path.join(ROOT, 'topologies', 'default.yaml'))


def run(line):
    name, _, rest = line.partition(' ')
    return COMMANDS[name].run(FakeLab(), COMMANDS[name].parse(rest))


@pytest.mark.parametrize('line, says', [
    ('cache r1 h1', 'unrecognized arguments: h1'),
    ('cache', 'the following arguments are required: HOST'),
    ('cache nosuch', "no physical host named 'nosuch'"),
    ('flows nosuch 0', "no physical host named 'nosuch'"),
    ('migrate nosuch r1-h1', "no instance named 'nosuch'"),
    ('security-group nosuch web', "no VPC named 'nosuch'"),
    ('security-group blue nosuch', "has no security group 'nosuch'"),
    ('flowlogs --port eighty', "invalid int value: 'eighty'"),
    ('flowlogs --eni nosuch', "no instance or ENI named 'nosuch'"),
    ('cache "r1-h1', 'No closing quotation'),
])
def test_a_bad_command_is_one_usage_error_before_any_request(line, says):
    with pytest.raises(UsageError) as err:
        run(line)
    assert says in str(err.value) and '\n' not in str(err.value)


def test_help_in_the_shell_prints_and_does_not_exit(capsys):
    with pytest.raises(HelpShown):
        COMMANDS['flowlogs'].parse('--help')
    assert '--eni ENI' in capsys.readouterr().out


def test_cli_and_shell_share_each_command_s_arguments():
    ap = cli.parser()
    for name, command in COMMANDS.items():
        cli_args = ap.parse_args([name, 'blue', 'web'] if name == 'security-group' else
                                 [name, 'r1-h1'] if name in ('cache', 'flows') else
                                 [name, 'web-1', 'r1-h1'] if name == 'migrate' else [name])
        shell_args = command.parse(' '.join(vars(cli_args).get(k) or '' for k in ('vpc', 'group', 'instance',
                                                                                  'host')))
        assert {k: v for k, v in vars(cli_args).items() if k not in ('command', 'func')} == vars(shell_args)


@pytest.mark.parametrize('content', [None, b'\xff\xfe\x00garbage\n', b'hello world\n',
                                     (HEADER + '\n' + RECORD.replace('40000', 'port') + '\n').encode()])
def test_flowlogs_file_that_is_missing_or_malformed_exits_2_in_one_line(tmp_path, capsys, content):
    path = tmp_path / 'logs.txt'
    if content is not None:
        path.write_bytes(content)
    assert cli.main(['flowlogs', '--file', str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f'vpclab: {path}: ') and err.count('\n') == 1 and 'Traceback' not in err


def test_flowlogs_file_is_filtered(tmp_path, capsys):
    path = tmp_path / 'logs.txt'
    path.write_text(f'{HEADER}\n{RECORD}\n{RECORD.replace("ACCEPT", "REJECT")}\n')
    assert cli.main(['flowlogs', '--file', str(path), '--eni', 'eni-0a', '--action', 'reject']) == 0
    assert capsys.readouterr().out.splitlines() == [HEADER, RECORD.replace('ACCEPT', 'REJECT')]
