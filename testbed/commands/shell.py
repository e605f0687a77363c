"""The Mininet CLI of `vpclab up`, with the VPC commands added to Mininet's own
(`web-1 ping 10.0.1.11` works as in any Mininet).  The VPC commands are those of
`vpclab COMMAND` (testbed/commands/lab_commands.py), with the same arguments.  No command
ends the lab by failing: its error is one line and the shell goes on."""
from mininet.cli import CLI
from mininet.log import setLogLevel

from testbed.commands.grammar import HelpShown, usage
from testbed.commands.lab_check import SHELL_CHECK
from testbed.commands.lab_commands import ALIASES, COMMANDS
from testbed.commands.trace import shell_command as trace_command
from testbed.errors import LabError
from testbed.management_client import ApiError
from testbed.topology import TopologyError


class VpcShell(CLI):
    prompt = 'vpclab> '

    def __init__(self, lab, checks_file=None):
        self.lab = lab
        self.checks_file = checks_file      # `vpclab lab start`: the lab's checks, what `check` runs
        setLogLevel('output')      # Mininet prints node commands' output at this level
        super().__init__(lab.network.net)

    def parseline(self, line):
        # cmd.Cmd stops a command word at the first non-identifier character, which
        # breaks instance names like web-1: split on white space instead
        line = line.strip()
        if not line:
            return None, None, line
        first, _, rest = line.partition(' ')
        name = ALIASES.get(first, first)
        if name in COMMANDS:
            first = _method(name)
        return first, rest.strip(), line

    def onecmd(self, line):
        try:
            return super().onecmd(line)
        except HelpShown:
            return False
        except Exception as exc:        # noqa: BLE001  (a typo or a bad argument never ends the lab)
            text = ' '.join(str(exc).split())
            if not isinstance(exc, (LabError, ApiError, TopologyError)):
                text = f'{type(exc).__name__}: {text}'      # not ours: say what kind
            print(f'error: {text}')
            return False

    def run_command(self, name, line):
        command = COMMANDS[name]
        print(command.run(self.lab, command.parse(line)))


    def do_check(self, line):
        args = SHELL_CHECK.parse(line)
        args.checks = args.checks or self.checks_file
        print(SHELL_CHECK.run(self.lab, args))


def _method(name):
    return name.replace('-', '_')


def _shell_command(command):
    def do(self, line):
        self.run_command(command.name, line)
    do.__doc__ = f'{usage(command.parser)}: {command.help}'
    return do


for _command in COMMANDS.values():
    setattr(VpcShell, f'do_{_method(_command.name)}', _shell_command(_command))
for _alias, _name in ALIASES.items():
    setattr(VpcShell, f'do_{_alias}', _shell_command(COMMANDS[_name]))
VpcShell.do_trace = trace_command()
VpcShell.do_check.__doc__ = f'{usage(SHELL_CHECK.parser)}: {SHELL_CHECK.help}'
