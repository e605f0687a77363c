"""Errors that reach a user as one sentence (exit code 1)."""


class LabError(RuntimeError):
    """The lab could not be started or could not do what was asked."""
