"""One grammar for the commands that both `vpclab COMMAND` and the `vpclab up` shell offer.

Each command declares its arguments once (a function that adds them to an argparse parser); the
CLI adds them to its subcommand, the shell to a parser built once that raises UsageError instead
of exiting, so that a bad argument in the shell is one line of error and the lab goes on."""
import argparse
import shlex
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

from testbed.errors import UsageError


class HelpShown(Exception):
    """`COMMAND -h` in the shell printed its help; there is nothing else to do."""


class ShellParser(argparse.ArgumentParser):
    """argparse that reports instead of exiting."""

    def error(self, message):
        raise UsageError(f'{self.prog}: {message}; usage: {usage(self)}')

    def exit(self, status=0, message=None):
        if message:
            print(message, end='')
        raise HelpShown()


def usage(parser):
    """argparse's usage line, on one line."""
    return ' '.join(parser.format_usage().partition(': ')[2].split())


@dataclass(frozen=True)
class Command:
    """name: the word the user types; arguments(parser) declares what follows it; run(lab, args)
    does it and returns the text to print (lab: a testbed.lab.Lab, or the lab running on this
    machine seen from another terminal)."""
    name: str
    help: str
    arguments: Callable
    run: Callable

    @cached_property
    def parser(self):
        p = ShellParser(prog=self.name, description=self.help)
        self.arguments(p)
        return p

    def parse(self, line):
        """The shell's words after the command name -> argparse namespace (UsageError if wrong)."""
        try:
            words = shlex.split(line)
        except ValueError as exc:          # an unclosed quote
            raise UsageError(f'{self.name}: {exc}') from None
        return self.parser.parse_args(words)

    def add_to(self, subparsers, func):
        """This command as a subcommand of the CLI; func(command, args) runs it."""
        p = subparsers.add_parser(self.name, help=self.help, description=self.help)
        self.arguments(p)
        p.set_defaults(func=lambda args: func(self, args))
        return p
