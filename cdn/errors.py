"""Errors a user can act on.

Anything raised as a :class:`UserError` reaches the terminal as its message
alone (no traceback) and the CLI exits with status 2.
"""


class UserError(Exception):
    """An error in what the user asked for: bad input, bad file, busy port."""

    exit_status = 2
