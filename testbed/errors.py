"""Errors that reach a user as one sentence."""


class LabError(RuntimeError):
    """The lab could not be started or could not do what was asked (the CLI exits 1)."""


class UsageError(LabError):
    """What the user typed is wrong: a bad argument, a name the lab does not have, a file that
    cannot be read (the CLI exits 2; the `vpclab up` shell says so and goes on)."""
