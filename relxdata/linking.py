"""Link resolution: from a link's target title to a Wikidata QID, or to the reason there is none.

A target is first walked along redirects (several hops, loops detected), then the title it
arrives at is looked up: disambiguation pages never become entities, a page without an item is
`no_qid`, a title that is no page at all is a red link. The Beam pipeline runs the same two steps
as joins (`follow` once per hop, then `settle`); `resolve_title` composes them in memory.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Mapping

DEFAULT_MAX_HOPS = 5


class Unresolved(str, enum.Enum):
    RED_LINK = "red_link"
    REDIRECT_LOOP = "redirect_loop"
    REDIRECT_TOO_LONG = "redirect_too_long"
    NO_QID = "no_qid"
    DISAMBIGUATION = "disambiguation"
    OTHER_NAMESPACE = "other_namespace"


@dataclass(frozen=True, slots=True)
class RedirectEdge:
    """`source` redirects to `target`; `article` is false for a target in another namespace or wiki."""

    source: str
    target: str
    article: bool = True


@dataclass(frozen=True, slots=True)
class TitleEntry:
    """What the wiki knows about one title."""

    qid: str | None = None
    disambiguation: bool = False
    is_page: bool = False


@dataclass(frozen=True, slots=True)
class Walk:
    """A link target on its way along redirects."""

    origin: str
    current: str
    visited: tuple[str, ...] = ()
    done: bool = False
    failure: Unresolved | None = None

    @classmethod
    def start(cls, title: str) -> "Walk":
        return cls(title, title)


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where a link target `title` leads: its item `qid`, or the `reason` there is none; `arrived` is
    the title its redirects end at, whether a page or a red link (None for a disambiguation page or a
    failed walk): the entity a link names, for knowledge bases keyed by title."""

    title: str
    qid: str | None
    reason: Unresolved | None
    hops: int
    arrived: str | None = None


def follow(walk: Walk, edge: RedirectEdge | None, max_hops: int = DEFAULT_MAX_HOPS) -> Walk:
    """One hop: `edge` is the redirect leaving `walk.current`, None when that title is no redirect."""
    if walk.done:
        return walk
    if edge is None:
        return replace(walk, done=True)
    if not edge.article:
        return replace(walk, done=True, failure=Unresolved.OTHER_NAMESPACE)
    visited = walk.visited + (walk.current,)
    if edge.target in visited:
        return replace(walk, visited=visited, done=True, failure=Unresolved.REDIRECT_LOOP)
    if len(visited) > max_hops:
        return replace(walk, visited=visited, done=True, failure=Unresolved.REDIRECT_TOO_LONG)
    return Walk(walk.origin, edge.target, visited)


def settle(walk: Walk, entry: TitleEntry) -> Resolution:
    """The outcome of a finished walk, given what is known about the title it arrived at."""
    hops = len(walk.visited)
    if walk.failure is not None:
        return Resolution(walk.origin, None, walk.failure, hops)
    if entry.disambiguation:
        return Resolution(walk.origin, None, Unresolved.DISAMBIGUATION, hops)
    if entry.qid is not None:
        return Resolution(walk.origin, entry.qid, None, hops, walk.current)
    reason = Unresolved.NO_QID if entry.is_page else Unresolved.RED_LINK
    return Resolution(walk.origin, None, reason, hops, walk.current)


def resolve_title(title: str, redirects: Mapping[str, RedirectEdge], entries: Mapping[str, TitleEntry],
                  max_hops: int = DEFAULT_MAX_HOPS) -> Resolution:
    walk = Walk.start(title)
    while not walk.done:
        walk = follow(walk, redirects.get(walk.current), max_hops)
    return settle(walk, entries.get(walk.current, TitleEntry()))
