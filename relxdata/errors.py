"""Errors that reach the user as one line on stderr."""


class RelxdataError(Exception):
    """A problem with the user's input or environment, not a bug in relxdata."""


class DumpError(RelxdataError):
    """A dump file is truncated, corrupt or not a MediaWiki XML export."""
