"""The one exception type the user sees: a one-line message, no traceback."""


class ZomgError(Exception):
    """A problem with the user's input or environment, explained in one line."""
