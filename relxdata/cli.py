"""The `relxdata` command."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import signal
import sys
import threading
import traceback

import relxdata
from model.cli import COMMANDS as MODEL_COMMANDS, add_model_commands, run_model_command
from relxdata.download import DATABUS, DBPEDIA_ARTIFACTS, DEFAULT_WHAT, WHAT, WIKIDATA_FILES, WIKIMEDIA
from relxdata.errors import DEBUG_VARIABLE, INTERRUPTED, RelxdataError, debugging, user_error_in
from relxdata.pairs import add_pair_arguments
from relxdata.relations import NO_RELATION

JOBS = {"sentences": "pipelines.sentences", "relx-distant": "pipelines.relx_distant", "smiler": "pipelines.smiler",
        "pairs": "pipelines.pairs"}
# ...and appends the step it was running.
_BEAM_STEP = re.compile(r"( \[while running '[^']*'\])+$")


def _user_message(text: str) -> str:
    return _BEAM_STEP.sub("", text.strip())


def _run_job(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in JOBS:
        jobs = "\n".join(f"  relxdata run {job} --help" for job in JOBS)
        message = f"usage: relxdata run JOB [options]\n\njobs:\n{jobs}\n"
        if argv and argv[0] not in ("-h", "--help"):
            raise RelxdataError(f"unknown job {argv[0]!r}; jobs: {', '.join(JOBS)}")
        sys.stdout.write(message)
        return
    importlib.import_module(JOBS[argv[0]]).run(argv[1:])


def _build_pairs(args: argparse.Namespace) -> None:
    from pipelines.launch import fresh_output
    from relxdata.pairs import PairConfig, build_pairs

    if args.num_pairs < 2:
        raise RelxdataError("--num-pairs must be at least 2")
    if not 0.0 <= args.blank_prob <= 1.0:
        raise RelxdataError("--blank-prob must be between 0 and 1")
    if args.pairs_per_shard < 1:
        raise RelxdataError("--pairs-per-shard must be positive")
    config = PairConfig(num_pairs=args.num_pairs, seed=args.seed, blank_prob=args.blank_prob, pivot=args.pivot,
                        langs=tuple(args.langs.split(",")) if args.langs else None, allow_fewer=args.allow_fewer,
                        pairs_per_shard=args.pairs_per_shard, memory_limit=args.memory_limit,
                        threads=args.threads)
    with fresh_output(args.out, args.overwrite):
        counts = build_pairs(args.corpus, args.out, config)
    print(f"{counts['pairs']:,} pairs in {args.out}")


def _download(args: argparse.Namespace) -> None:
    from relxdata.download import DownloadRequest, download

    request = DownloadRequest(wiki=args.wiki, date=args.date, what=tuple(filter(None, args.what.split(","))),
                              to=args.to, mirror=args.mirror, wikidata=args.wikidata,
                              dbpedia=tuple(filter(None, (args.dbpedia or "").split(","))), contact=args.contact,
                              connections=args.connections, databus=args.databus)
    manifest = download(request)
    total = sum(entry["bytes"] for entry in manifest["files"])
    print(f"{len(manifest['files'])} files, {total:,} bytes, verified, in {args.to} (dump of {manifest['dump_date']})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relxdata", description=relxdata.__doc__)
    parser.add_argument("--version", action="version", version=f"relxdata {relxdata.__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="before the command: show the traceback of a user error, and Beam's worker logs and "
                             f"tracebacks (also: {DEBUG_VARIABLE}=1)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run a Beam pipeline: relxdata run JOB --help (jobs: %s)" % ", ".join(JOBS),
                        add_help=False)
    download = commands.add_parser("download", help="fetch and verify the dump files of one wiki (and Wikidata, "
                                                     "DBpedia)",
                                   description="The files of one Wikimedia dump run, each checked against the "
                                               "publisher's checksum (dumpstatus.json's sha1, Wikidata's sha1sums, "
                                               "the Databus's sha256), resumed with HTTP Range after an interruption, "
                                               "and listed in DIR/_download.json once all are there; the pipelines "
                                               "copy that provenance into their manifests. See docs/download.md.")
    download.add_argument("--wiki", required=True, help="the wiki's database name, e.g. enwiki, dewiki")
    download.add_argument("--date", default="latest",
                          help="the dump run, YYYYMMDD, or latest: the newest run whose jobs are done (default)")
    download.add_argument("--what", default=",".join(DEFAULT_WHAT),
                          help=f"comma-separated, of {', '.join(WHAT)} (default {','.join(DEFAULT_WHAT)})")
    download.add_argument("--to", required=True, metavar="DIR", help="where to write (one directory per wiki)")
    download.add_argument("--wikidata", choices=sorted(WIKIDATA_FILES),
                          help="also the newest Wikidata dump: json (all entities) or truthy (N-Triples)")
    download.add_argument("--dbpedia", help=f"also the wiki language's DBpedia files, comma-separated, of "
                                            f"{', '.join(DBPEDIA_ARTIFACTS)}")
    download.add_argument("--mirror", default=WIKIMEDIA, metavar="URL",
                          help=f"the base of a dump tree in Wikimedia's layout (default {WIKIMEDIA})")
    download.add_argument("--databus", default=DATABUS, metavar="URL", help=f"the DBpedia Databus (default {DATABUS})")
    download.add_argument("--connections", type=int, default=2,
                          help="files fetched at once (default 2; Wikimedia asks for no more than 3)")
    download.add_argument("--contact", default=os.environ.get("RELXDATA_CONTACT", ""),
                          help="an e-mail or URL for the User-Agent, which Wikimedia requires (default: the "
                               "RELXDATA_CONTACT environment variable)")
    pairs = commands.add_parser("build-pairs", help="MTMB sentence pairs from a relx-distant corpus",
                                description="Positive and strong-negative pivot/non-pivot sentence pairs, "
                                            "balanced over classes and languages, as Parquet shards + manifest.")
    add_pair_arguments(pairs)
    pairs.add_argument("--out", required=True, help="output directory")
    pairs.add_argument("--memory-limit", default="1GB", help="DuckDB's memory limit (default 1GB)")
    pairs.add_argument("--threads", type=int, help="DuckDB threads (default: one per core); the output is the same")
    relations = commands.add_parser("relations", help="print the relation inventory as JSON lines",
                                    description="Print a relation inventory, one JSON object a line (the format "
                                                "--relations reads): relx lines are "
                                                '{"category": .., "relation": .., "relation_name": ..}.')
    relations.add_argument("--relations", help="an inventory file of the same lines, of either schema (default: the "
                                               "shipped one of --schema)")
    relations.add_argument("--schema", choices=["relx", "smiler"], default="relx",
                           help="relx: RELX-Distant's 24 categories (default); smiler: SMiLER's 35 labels, "
                                '{"label": .., "dbpedia": [..], "wikidata": [..]} (see docs/smiler.md)')
    export = commands.add_parser("export", help="write a corpus in a released layout",
                                 description="relx-json: the released RELX-Distant layout, a JSON array of objects "
                                             "with the keys sentence, entity1, entity2, entity1_indices, "
                                             "entity2_indices, relation, relation_name, category; --out is a file. "
                                             "smiler-tsv: the released SMiLER layout, {lang}_corpora_{train,test}.tsv "
                                             "with the header id, entity_1, entity_2, label, text, lang and the "
                                             "entities tagged <e1>..</e1>, <e2>..</e2> in the text; --out is a "
                                             "directory.")
    export.add_argument("format", choices=["relx-json", "smiler-tsv"], help="the layout to write")
    export.add_argument("--corpus", required=True, help="a relx-distant or smiler corpus directory (part-*.parquet)")
    export.add_argument("--out", required=True, help="the file (relx-json) or directory (smiler-tsv) to write")
    export.add_argument("--dev", action="store_true", help="smiler-tsv: write dev rows to {lang}_corpora_dev.tsv "
                                                           "instead of adding them to train, as released")
    export.add_argument("--overwrite", action="store_true", help="replace existing files")
    score = commands.add_parser("score", help="the official relation-extraction macro-F1 of predictions",
                                description="SemEval-2010 Task 8's official score, as KBP-37 and RELX report it: "
                                            "the macro-averaged F1 over the relations in GOLD (the negative label "
                                            "excluded), a true positive being the right relation in the right "
                                            "direction. Prints a per-relation table; the last line is "
                                            "`MACRO-F1 <percent>`, e.g. `MACRO-F1 25.00`.")
    score.add_argument("gold", metavar="GOLD", help="the gold labels, `id<TAB>label` lines (--task smiler: a "
                                                    "released-layout SMiLER TSV)")
    score.add_argument("pred", metavar="PRED", help="the predicted labels, `id<TAB>label` lines, the ids of GOLD "
                                                    "(--task smiler: a TSV of the same layout and ids)")
    score.add_argument("--task", choices=["relx", "smiler"], default="relx",
                       help="relx (default): the SemEval macro-F1 above; smiler: SMiLER's relation, entity-pair and "
                            "combined micro-F1 (no_relation ignored) per language and label, the combined one last, "
                            "e.g. `COMBINED-MICRO-F1 81.49`")
    score.add_argument("--negative-label", default=NO_RELATION,
                       help=f"the label of 'no relation', not averaged (default {NO_RELATION}; SemEval: Other)")
    score.add_argument("--json", action="store_true", help="print the result as a JSON object instead "
                                                           "(scores as fractions in [0, 1])")
    stats = commands.add_parser("stats", help="counts, plots and a dataset card for a finished output",
                                description="Counts per language, relation or label, category and split, the "
                                            "manifest's drop and skip reasons, sentence-length, entity-distance and "
                                            "rows-per-article histograms of any relxdata output (sentences, "
                                            "relx-distant, smiler, pairs; one job directory or one per language). "
                                            "Writes OUT/stats.json, OUT/plots/*.png and OUT/README.md, a dataset "
                                            "card in the Hugging Face layout that datasets.load_dataset(OUT) reads.")
    stats.add_argument("directory", metavar="DIR", help="a finished output (with _manifest.json), or a directory "
                                                        "of them, one per language")
    stats.add_argument("--out", help="where to write (default: DIR itself, beside the shards the card points at)")
    stats.add_argument("--overwrite", action="store_true", help="replace a README.md that relxdata did not write")
    add_model_commands(commands)
    demo = commands.add_parser("demo", help="the whole chain on the bundled sample, no downloads")
    demo.add_argument("--out", default="relxdata-demo", help="where to write (default ./relxdata-demo)")
    demo.add_argument("--overwrite", action="store_true", help="replace an earlier demo output")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--debug"]:
        argv = argv[1:]
        os.environ[DEBUG_VARIABLE] = "1"
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Beam's local workers warn about a staging directory that in-process runs never use, and the
    # runner logs a failed bundle's traceback before it raises the same error to us.
    for name in ("apache_beam.runners.portability.local_job_service", "apache_beam.runners.worker",
                 "apache_beam.runners.common"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    # Importing Beam warns that Google Cloud's optional client libraries are missing; only a
    # Dataflow run needs them, and it installs them (`relxdata[dataflow]`).
    for handler in logging.getLogger().handlers:
        handler.addFilter(lambda record: not record.getMessage().startswith("apitools not found"))
    interrupts = []

    def interrupt(signum, frame):
        # Libraries may turn the KeyboardInterrupt into an error of their own: the flag still tells.
        interrupts.append(signum)
        signal.default_int_handler(signum, frame)

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, interrupt) if in_main_thread else None
    try:
        return _main(argv, interrupts)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)


def _main(argv: list[str], interrupts: list[int]) -> int:
    try:
        if argv and argv[0] == "run":
            _run_job(argv[1:])
            return 0
        args = build_parser().parse_args(argv)
        if args.command == "download":
            _download(args)
        elif args.command == "build-pairs":
            _build_pairs(args)
        elif args.command == "relations":
            from relxdata.relations import load_relations, load_smiler_labels, schema_of
            schema = schema_of(args.relations) if args.relations else args.schema
            inventory = load_smiler_labels(args.relations) if schema == "smiler" else load_relations(args.relations)
            for line in inventory.lines():
                print(line)
        elif args.command == "export" and args.format == "relx-json":
            from relxdata.export import export_relx_json
            rows = export_relx_json(args.corpus, args.out, overwrite=args.overwrite)
            print(f"{rows:,} rows in {args.out}", file=sys.stderr)
        elif args.command == "export":
            from relxdata.export import export_smiler_tsv
            for name, rows in sorted(export_smiler_tsv(args.corpus, args.out, dev=args.dev,
                                                       overwrite=args.overwrite).items()):
                print(f"{rows:,} rows in {os.path.join(args.out, name)}", file=sys.stderr)
        elif args.command == "score" and args.task == "smiler":
            from relxdata import smiler_scoring
            report = smiler_scoring.score_files(args.gold, args.pred, args.negative_label)
            print(smiler_scoring.report_json(report) if args.json else "\n".join(smiler_scoring.report_lines(report)))
        elif args.command == "score":
            from relxdata.scoring import report_json, report_lines, score_files
            result = score_files(args.gold, args.pred, args.negative_label)
            if not result.negative_gold and not result.negative_predicted:
                print(f"relxdata: warning: the negative label {args.negative_label!r} occurs in neither file; "
                      "name the corpus's own with --negative-label (SemEval: Other)", file=sys.stderr)
            print(report_json(result) if args.json else "\n".join(report_lines(result)))
        elif args.command == "stats":
            from relxdata.card import summary_lines, write_stats
            stats = write_stats(args.directory, args.out, args.overwrite)
            print("\n".join(summary_lines(stats)))
            print(f"stats.json, plots/ and the dataset card README.md are in {args.out or args.directory}")
        elif args.command in MODEL_COMMANDS:
            run_model_command(args)
        elif args.command == "demo":
            from relxdata.demo import run_demo
            run_demo(args.out, args.overwrite)
        else:
            build_parser().print_help()
        return 0
    except RelxdataError as exc:
        if debugging():
            traceback.print_exc()
        print(f"relxdata: error: {_user_message(str(exc))}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of our output (`| head`) has gone; Python would complain when it flushes at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    except Exception as exc:
        if interrupts:
            print(INTERRUPTED, file=sys.stderr)
            return 130
        message = user_error_in(str(exc))
        if message is None:
            raise
        if debugging():
            traceback.print_exc()
        print(f"relxdata: error: {_user_message(message)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
