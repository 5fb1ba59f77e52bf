"""Errors the lab reports to people: one line that says what is wrong and what to do."""


class LabError(Exception):
    """A failure with a message fit for a one-line CLI error, never a traceback."""
