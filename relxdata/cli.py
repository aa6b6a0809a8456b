"""The `relxdata` command."""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys

import relxdata
from relxdata.errors import RelxdataError

JOBS = {"sentences": "pipelines.sentences"}
# Beam re-raises a worker's exception as text inside its own; find a user error in it.
_WRAPPED_USER_ERROR = re.compile(r"(?:DumpError|RelxdataError): (.+)")


def _run_job(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in JOBS:
        jobs = "\n".join(f"  relxdata run {job} --help" for job in JOBS)
        message = f"usage: relxdata run JOB [options]\n\njobs:\n{jobs}\n"
        if argv and argv[0] not in ("-h", "--help"):
            raise RelxdataError(f"unknown job {argv[0]!r}; jobs: {', '.join(JOBS)}")
        sys.stdout.write(message)
        return
    importlib.import_module(JOBS[argv[0]]).run(argv[1:])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relxdata", description=relxdata.__doc__)
    parser.add_argument("--version", action="version", version=f"relxdata {relxdata.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run a Beam pipeline: relxdata run JOB --help (jobs: %s)" % ", ".join(JOBS),
                        add_help=False)
    demo = commands.add_parser("demo", help="the whole chain on the bundled sample, no downloads")
    demo.add_argument("--out", default="relxdata-demo", help="where to write (default ./relxdata-demo)")
    demo.add_argument("--overwrite", action="store_true", help="replace an earlier demo output")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Beam's local workers warn about a staging directory that in-process runs never use.
    logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.ERROR)
    try:
        if argv and argv[0] == "run":
            _run_job(argv[1:])
            return 0
        args = build_parser().parse_args(argv)
        if args.command == "demo":
            from relxdata.demo import run_demo
            run_demo(args.out, args.overwrite)
        else:
            build_parser().print_help()
        return 0
    except RelxdataError as exc:
        print(f"relxdata: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("relxdata: interrupted; the output has no manifest and is incomplete", file=sys.stderr)
        return 130
    except Exception as exc:
        wrapped = _WRAPPED_USER_ERROR.search(str(exc))
        if wrapped is None:
            raise
        print(f"relxdata: error: {wrapped.group(1)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
