"""The Dataflow Flex Template of every relxdata job: its parameters, derived from the jobs' own parsers, and
the launcher that turns a template launch into `relxdata run JOB ...`.

    python -m pipelines.flex_template --write dataflow/metadata.json

One template serves all jobs: the `job` parameter names it, and every other parameter is an option of
one or more jobs, named as argparse names its destination (`--page-props` is `page_props`). Dataflow
hands the launcher each parameter as `--name=value`, with its own pipeline options (project, region,
temp_location, sdk_container_image, ...) beside them; those pass on to Beam untouched.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from dataclasses import dataclass

from relxdata.cli import JOBS, main
from relxdata.errors import RelxdataError

TEMPLATE_NAME = "relxdata"
TEMPLATE_DESCRIPTION = ("Distant-supervision relation-extraction corpora from Wikipedia dumps: the relxdata jobs "
                        "sentences, relx-distant, smiler and pairs (see docs/dataflow.md).")
JOB_PARAMETER = "job"

GCS_PATH = r"^gs://[^\n\r]+$"
GCS_PATHS = r"^gs://[^,\n\r]+(,gs://[^,\n\r]+)*$"
LANGUAGE = r"^[a-z][a-z0-9-]*$"
# String options whose values have a known shape, and the console's widget for them: the parsers cannot
# say this, and an option missing here is plain text.
SHAPES = {
    "lang": (LANGUAGE, "TEXT"),
    "pivot": (LANGUAGE, "TEXT"),
    "langs": (r"^[a-z][a-z0-9-]*(,[a-z][a-z0-9-]*)*$", "TEXT"),
    "namespaces": (r"^-?[0-9]+(,-?[0-9]+)*$", "TEXT"),
    "dump": (GCS_PATH, "GCS_READ_FILE"),
    "index": (GCS_PATH, "GCS_READ_FILE"),
    "page_props": (GCS_PATH, "GCS_READ_FILE"),
    "redirects": (GCS_PATH, "GCS_READ_FILE"),
    "wikidata": (GCS_PATH, "GCS_READ_FILE"),
    "truthy": (GCS_PATH, "GCS_READ_FILE"),
    "relations": (GCS_PATH, "GCS_READ_FILE"),
    "sentences": (GCS_PATH, "GCS_READ_FOLDER"),
    "out": (GCS_PATH, "GCS_WRITE_FOLDER"),
    "dbpedia": (GCS_PATHS, "TEXT"),
    "corpus": (GCS_PATHS, "TEXT"),
    "sparql": (r"^https?://[^\n\r]+$", "TEXT"),
}
BOOLEAN = r"^(true|false)$"
INTEGER = r"^[0-9]+$"
NUMBER = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)$"


def job_parsers() -> dict[str, argparse.ArgumentParser]:
    return {job: importlib.import_module(module).build_parser() for job, module in JOBS.items()}


def options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """A job's options by destination, --help left out."""
    return {action.dest: action for action in parser._actions if not isinstance(action, argparse._HelpAction)}


def is_flag(action: argparse.Action) -> bool:
    return isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction))


def help_text(action: argparse.Action, prog: str) -> str:
    """What --help says of an option (with its %(default)s filled in, as argparse does), and its default."""
    if not action.help:
        raise ValueError(f"{prog} {action.option_strings[0]} has no help text to describe its template parameter")
    text = action.help % {**vars(action), "prog": prog}
    if action.default is not None and not is_flag(action) and "default" not in text:
        text += f" (default {action.default})"
    if action.nargs == "+":
        text += "; several are comma-separated"
    return text


def one_of(values) -> str:
    """A regex that matches exactly one of `values` (job names, choices)."""
    return "^(" + "|".join(re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", str(value)) for value in values) + ")$"


def value_regexes(name: str, action: argparse.Action) -> list[str]:
    if is_flag(action):
        return [BOOLEAN]
    if action.choices:
        return [one_of(action.choices)]
    if action.type is int:
        return [INTEGER]
    if action.type is float:
        return [NUMBER]
    return [SHAPES[name][0]] if name in SHAPES else []


@dataclass(frozen=True)
class Parameter:
    """One template parameter: an option of the jobs that have it."""

    name: str
    actions: dict[str, argparse.Action]  # job -> its option
    progs: dict[str, str]

    def metadata(self, every_job: tuple[str, ...]) -> dict:
        jobs = tuple(self.actions)
        # Jobs that describe the option alike share one text; the jobs are named unless it is all of them.
        by_text: dict[str, list[str]] = {}
        for job, action in self.actions.items():
            by_text.setdefault(help_text(action, self.progs[job]), []).append(job)
        help_ = " | ".join(text if tuple(named) == every_job else f"{', '.join(named)}: {text}"
                           for text, named in by_text.items())
        described = {
            "name": self.name,
            "label": self.name.replace("_", " ").capitalize(),
            "helpText": help_,
            # Required only where every job requires it; each job's own parser checks the rest.
            "isOptional": not (jobs == every_job and all(a.required for a in self.actions.values())),
        }
        regexes = value_regexes(self.name, next(iter(self.actions.values())))
        if regexes:
            described["regexes"] = regexes
        if self.name in SHAPES:
            described["paramType"] = SHAPES[self.name][1]
        return described


def parameters(parsers: dict[str, argparse.ArgumentParser]) -> list[Parameter]:
    """Every job option as a template parameter, in the order the jobs first name them."""
    found: dict[str, dict[str, argparse.Action]] = {}
    for job, parser in parsers.items():
        for name, action in options(parser).items():
            found.setdefault(name, {})[job] = action
    progs = {job: parser.prog for job, parser in parsers.items()}
    return [Parameter(name, actions, {job: progs[job] for job in actions}) for name, actions in found.items()]


def metadata(parsers: dict[str, argparse.ArgumentParser] | None = None) -> dict:
    """The template's metadata file (`gcloud dataflow flex-template build --metadata-file`)."""
    parsers = parsers or job_parsers()
    every_job = tuple(parsers)
    job = {"name": JOB_PARAMETER, "label": "Job",
           "helpText": f"The relxdata job to run, as `relxdata run JOB`: {', '.join(every_job)}.",
           "isOptional": False,
           "regexes": [one_of(every_job)]}
    return {"name": TEMPLATE_NAME, "description": TEMPLATE_DESCRIPTION,
            "parameters": [job, *(parameter.metadata(every_job) for parameter in parameters(parsers))]}


def metadata_text(parsers: dict[str, argparse.ArgumentParser] | None = None) -> str:
    return json.dumps(metadata(parsers), indent=2, ensure_ascii=False) + "\n"


# --- the launcher ------------------------------------------------------------------------------------

def job_arguments(argv: list[str], parsers: dict[str, argparse.ArgumentParser] | None = None
                  ) -> tuple[str, list[str]]:
    """A template launch's arguments -> the job and its `relxdata run JOB` arguments.

    Template parameters (`--name=value` or `--name value`) become the job's options: `true`/`false`
    turns a flag on or leaves it out, and a comma-separated value of an option that takes several
    becomes several. Anything else is Dataflow's and passes on to Beam as it came.
    """
    parsers = parsers or job_parsers()
    template = {parameter.name for parameter in parameters(parsers)} | {JOB_PARAMETER}
    given: dict[str, str] = {}
    passed_on: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        name, equals, value = token.removeprefix("--").partition("=") if token.startswith("--") else ("", "", "")
        if name not in template:
            passed_on.append(token)
            continue
        given[name] = value if equals else next(tokens, "")
    job = given.pop(JOB_PARAMETER, None)
    if job not in parsers:
        raise RelxdataError(f"the template parameter job must name one of {', '.join(parsers)}, not {job!r}")
    actions = options(parsers[job])
    arguments: list[str] = []
    for name, value in given.items():
        if name not in actions:
            raise RelxdataError(f"the template parameter {name} is not an option of the {job} job")
        arguments += option_arguments(actions[name], name, value)
    return job, arguments + passed_on


def option_arguments(action: argparse.Action, name: str, value: str) -> list[str]:
    flag = next(option for option in action.option_strings if option.startswith("--"))
    if is_flag(action):
        if value not in ("true", "false"):
            raise RelxdataError(f"the template parameter {name} takes true or false, not {value!r}")
        return [flag] if value == "true" else []
    if action.nargs == "+":
        return [flag, *value.split(",")]
    return [f"{flag}={value}"]


def launch(argv: list[str]) -> int:
    """Run the job a template launch names, as `relxdata run` would; the exit status."""
    try:
        job, arguments = job_arguments(argv)
    except RelxdataError as exc:
        print(f"relxdata: error: {exc}", file=sys.stderr)
        return 2
    # A Flex Template's program must return once the job is submitted, not wait for it to finish.
    if "--no_wait_until_finish" not in arguments:
        arguments.append("--no_wait_until_finish")
    return main(["run", job, *arguments])


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.flex_template",
                                     description="Print the Flex Template's metadata file, derived from the jobs' "
                                                 "parsers, or write it.")
    parser.add_argument("--write", metavar="PATH", help="write it here (dataflow/metadata.json) instead")
    args = parser.parse_args(argv)
    text = metadata_text()
    if args.write:
        with open(args.write, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    cli()
