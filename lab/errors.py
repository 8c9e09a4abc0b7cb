"""Errors the lab reports to a person as one clear line, never as a traceback."""


class LabError(Exception):
    """Something the user can act on; the message says what and where."""
