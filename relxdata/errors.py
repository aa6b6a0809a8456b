"""Errors that reach the user as one line on stderr."""

import os
import re

# What an interrupted command says last (its exit status is 130).
INTERRUPTED = "relxdata: interrupted; the output has no manifest and is incomplete"


# Set (to anything but 0) by `relxdata --debug`: user errors keep their tracebacks, and local Beam workers
# theirs. An environment variable, because the workers are other processes.
DEBUG_VARIABLE = "RELXDATA_DEBUG"


def debugging() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


class RelxdataError(Exception):
    """A problem with the user's input or environment, not a bug in relxdata."""


class DumpError(RelxdataError):
    """A dump file is truncated, corrupt or not a MediaWiki XML export."""


def user_error_names(cls: type = RelxdataError) -> set[str]:
    """The class names of every kind of RelxdataError, as a re-raised traceback's text shows them."""
    return {cls.__name__}.union(*(user_error_names(sub) for sub in cls.__subclasses__()))


def user_error_in(text: str) -> str | None:
    """The message of a user error (a RelxdataError of any kind) in a traceback's text, where Beam
    shows a worker's exception as `module.ClassName: message`; None when there is none."""
    found = re.search(r"\b(?:%s): (.+)" % "|".join(sorted(user_error_names())), text)
    return found.group(1) if found else None
