"""Dataflow: every job translates into a Dataflow job graph (a dry run: nothing is staged or submitted, and
no connection leaves this machine) through the Flex Template's launcher, and no step of those graphs holds a
whole table on one worker; the template's metadata is what the jobs' parsers say.

The rule, on the translated graph (docs/dataflow.md#what-a-worker-holds):
1. no side input is read as a list or a dict (AsList, AsDict): Dataflow materialises the whole PCollection
   in every worker that reads it. Streams (AsIter) and keyed lookups (AsMultiMap) are fine, and so is
   Beam's own CombineGlobally reading its one combined value as a list;
2. no global combine (CombineGlobally: every element under one constant key) gathers its input (ToList,
   ToSet, ToDict): one worker would hold all of it, and every reader of an AsSingleton of it a copy.
   Reductions (sum, counts) are fine, and so are the gatherings named in SMALL, whose input is provably small.
AsSingleton is therefore fine: it holds one value, which rule 2 keeps from being a gathered table.
"""

import argparse
import re
import socket
import tempfile
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.internal import pickler
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability import common_urns
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.dataflow.dataflow_runner import DataflowRunner
from apache_beam.transforms import combiners

from pipelines import flex_template
from relxdata.corpora import RELX_DISTANT, row_id, write_shard
from relxdata.errors import RelxdataError

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "us-central1-docker.pkg.dev/relxdata-test/relxdata/relxdata:test"
# As Dataflow hands its own options to a template's program; --dry_run stops before staging and submitting.
DATAFLOW = ["--runner=DataflowRunner", "--project=relxdata-test", "--region=us-central1",
            "--temp_location=gs://relxdata-test/tmp", "--staging_location=gs://relxdata-test/staging",
            f"--sdk_container_image={IMAGE}", "--dry_run=True"]
LOOPBACK = {"127.0.0.1", "::1", "localhost"}

COLLECTING = (combiners.ToListCombineFn, combiners.ToSetCombineFn, combiners.ToDictCombineFn)
# Global gatherings whose input is provably small, and why.
SMALL = {
    "Totals/Totals": "pairs: one valid-pair sum per (language, class)",
    "ByClass/ByClass": "pairs: one pair count per (class, language)",
}
# --- the rule ----------------------------------------------------------------------------------------

def leaf_producers(graph: beam_runner_api_pb2.Pipeline) -> dict[str, str]:
    """PCollection id -> the name of the primitive step that makes it."""
    return {pcoll: transform.unique_name for transform in graph.components.transforms.values()
            if not transform.subtransforms for pcoll in transform.outputs.values()}


def combine_fns(transform: beam_runner_api_pb2.PTransform) -> list:
    """The CombineFns of a combine step; a packed one (the runner packs sibling combines) holds several."""
    payload = beam_runner_api_pb2.CombinePayload.FromString(transform.spec.payload)
    fn = pickler.loads(payload.combine_fn.payload)
    return list(getattr(fn, "_combiners", [fn]))


def whole_table_steps(graph: beam_runner_api_pb2.Pipeline) -> set[str]:
    """The steps of a translated job that break the rule, as `step: what it holds`."""
    transforms = graph.components.transforms.values()
    producers = leaf_producers(graph)
    found, one_value = set(), set()
    for transform in transforms:
        if transform.spec.urn != common_urns.composites.COMBINE_PER_KEY.urn:
            continue
        (source,) = transform.inputs.values()
        if not producers[source].endswith("/KeyWithVoid"):
            continue
        combine = transform.unique_name.removesuffix("/CombinePerKey")
        one_value.add(f"{combine}/UnKey")
        gathering = [type(fn).__name__ for fn in combine_fns(transform) if isinstance(fn, COLLECTING)]
        if gathering and combine not in SMALL:
            found.add(f"{combine}: CombineGlobally({', '.join(gathering)})")
    for transform in transforms:
        if transform.spec.urn != common_urns.primitives.PAR_DO.urn:
            continue
        payload = beam_runner_api_pb2.ParDoPayload.FromString(transform.spec.payload)
        for tag, side_input in payload.side_inputs.items():
            view = pickler.loads(side_input.view_fn.payload)
            producer = producers[transform.inputs[tag]]
            if view in (list, dict) and producer not in one_value:
                found.add(f"{transform.unique_name}: As{view.__name__.capitalize()}({producer})")
    return found


@pytest.fixture
def offline(monkeypatch):
    """Any connection beyond loopback fails at once."""
    lookup, connect = socket.getaddrinfo, socket.socket.connect

    def local_lookup(host, *args, **kwargs):
        if host not in LOOPBACK:
            raise OSError(f"test_dataflow: no network: {host}")
        return lookup(host, *args, **kwargs)

    def local_connect(sock, address):
        if isinstance(address, tuple) and address[0] not in LOOPBACK:
            raise OSError(f"test_dataflow: no network: {address}")
        return connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", local_lookup)
    monkeypatch.setattr(socket.socket, "connect", local_connect)


def test_dry_runs_cannot_reach_the_network(offline):
    with pytest.raises(OSError, match="no network: storage.googleapis.com"):
        socket.create_connection(("storage.googleapis.com", 443), timeout=1)


@pytest.fixture
def translated(monkeypatch, offline, tmp_path) -> list:
    """The Dataflow job graphs that dry runs in this test translate, in order."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where Beam lists the packages it would stage
    graphs = []
    translate = DataflowRunner.run_pipeline

    def dry_run(self, pipeline, options, pipeline_proto=None):
        result = translate(self, pipeline, options, pipeline_proto)
        graphs.append(result.job.proto_pipeline)  # a dry run's result carries the job it did not submit
        return result

    monkeypatch.setattr(DataflowRunner, "run_pipeline", dry_run)
    return graphs


def test_the_rule_flags_lists_dicts_and_gathered_tables_not_streams_lookups_or_reductions(translated):
    with beam.Pipeline(options=PipelineOptions(DATAFLOW)) as pipeline:
        numbers = pipeline | "Numbers" >> beam.Create([1, 2, 3])
        keyed = numbers | "Keyed" >> beam.Map(lambda n: (n % 2, n))
        total = numbers | "Total" >> beam.CombineGlobally(sum)
        everything = numbers | "Everything" >> beam.combiners.ToList()
        _ = numbers | "Reads" >> beam.Map(lambda n, *views: n, beam.pvalue.AsDict(keyed),
                                          beam.pvalue.AsMultiMap(keyed), beam.pvalue.AsIter(keyed),
                                          beam.pvalue.AsSingleton(total), beam.pvalue.AsSingleton(everything))
        _ = numbers | "Lists" >> beam.Map(lambda n, listed: n, beam.pvalue.AsList(numbers))
    (graph,) = translated
    assert whole_table_steps(graph) == {"Reads: AsDict(Keyed)", "Lists: AsList(Numbers/Map(decode))",
                                        "Everything/Everything: CombineGlobally(ToListCombineFn)"}


# --- every job ----------------------------------------------------------------------------------------

def relx_rows(path: Path, lang: str, count: int) -> list[dict]:
    """The first `count` RELX test sentences of a language (KBP-37 blocks: `id<TAB>"tagged sentence"`, then
    `relation(e1,e2)` or `no_relation`) as relx-distant rows; entities are named by sentence id and tag, so
    the parallel sentences of the five languages share them."""
    rows = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n")[:count]:
        head, label = block.strip().splitlines()[:2]
        number, tagged = head.split("\t")
        text, spans = untagged(tagged.strip('"'))
        relation, _, arguments = label.strip().partition("(")  # no_relation has no arguments
        first, second = ("e2", "e1") if arguments.startswith("e2") else ("e1", "e2")
        entity1, entity2 = f"{number}/{first}", f"{number}/{second}"
        rows.append({"id": row_id(lang, int(number), 0, entity1, entity2, relation), "lang": lang, "sentence": text,
                     "entity1": entity1, "entity2": entity2, "entity1_indices": spans[first],
                     "entity2_indices": spans[second], "relation": relation, "relation_name": relation,
                     "category": relation, "page_id": int(number), "page_title": number,
                     "entity1_text": text[slice(*spans[first])],
                     "entity2_text": text[slice(*spans[second])]})
    return rows


def untagged(tagged: str) -> tuple[str, dict[str, list[int]]]:
    """`The <e1> Sacramento Heatwave </e1> is` -> the plain text and each entity's [start, end): the space
    inside each tag goes with it."""
    text, starts, spans, opened = "", {}, {}, False
    for piece in re.split(r"(</?e[12]>)", tagged):
        if piece in ("<e1>", "<e2>"):
            starts[piece[1:3]], opened = len(text), True
        elif piece in ("</e1>", "</e2>"):
            text = text.rstrip(" ")
            spans[piece[2:4]] = [starts[piece[2:4]], len(text)]
        else:
            text += piece.lstrip(" ") if opened else piece
            opened = False
    return text, spans


@pytest.fixture(scope="module")
def relx_corpus(shared_data, tmp_path_factory) -> Path:
    """A relx-distant corpus of real parallel sentences: RELX's first English and German test examples."""
    directory = tmp_path_factory.mktemp("relx")
    rows = [row for lang in ("en", "de")
            for row in relx_rows(shared_data / f"relation_eval/relx/RELX_{lang}.txt", lang, 20)]
    with open(directory / "part-00000-of-00001.parquet", "wb") as sink:
        write_shard(rows, RELX_DISTANT, sink)
    return directory


def job_parameters(job: str, shared: Path, corpus: Path, out: Path) -> list[str]:
    """Template parameters of a job that uses every kind of its inputs: real sample files throughout."""
    wiki, sql = shared / "wikipedia/minidumps", shared / "sql/2024-schema/rmwiki/20240301"
    dbpedia = shared / "dbpedia/en/nordlys-2015-10-sample"
    titles = [f"--page_props={sql}/rmwiki-20240301-page_props.sql.gz",
              f"--redirects={sql}/rmwiki-20240301-redirect.sql.gz"]
    wikidata = f"--wikidata={shared}/wikidata/twenty-entities-dump-layout.json.bz2"
    return {
        "sentences": ["--job=sentences", "--lang=en", f"--dump={wiki}/enwiki.xml.bz2"],
        "relx-distant": ["--job=relx-distant", "--lang=en", f"--dump={wiki}/enwiki.xml.bz2", *titles, wikidata],
        # no page_props: titles are looked up at the endpoint (which the dry run never calls)
        "relx-distant --sparql": ["--job=relx-distant", "--lang=en", f"--dump={wiki}/enwiki.xml.bz2",
                                  "--sparql=http://127.0.0.1:9/sparql"],
        # the English chapter's facts carried over to German titles through Wikidata
        "smiler": ["--job=smiler", "--lang=de", f"--dump={wiki}/dewiki.xml.bz2", *titles, wikidata,
                   f"--dbpedia={dbpedia}/mappingbased_objects_en.ttl.bz2,{dbpedia}/mappingbased_literals_en.ttl.bz2"],
        "pairs": ["--job=pairs", f"--corpus={corpus}", "--num_pairs=2"],
    }[job] + [f"--out={out}"]


# Steps that show each case's graph is the job with those inputs.
STEPS = {
    "sentences": {"SentenceShards/Extract", "SentenceShards/WriteSentencesManifest"},
    "relx-distant": {"SentenceShards/Extract", "TitleTables/TitleEntries/JoinPageProps", "LinkedFacts/ReadWikidata",
                     "ShardRows", "WriteResolutions", "WriteManifest"},
    "relx-distant --sparql": {"ResolveLinks/LookUp/SparqlTitles", "LinkedFacts/SparqlFacts", "ShardRows"},
    "smiler": {"LabelledFacts/ReadDbpedia", "LabelledFacts/ChapterToQid", "LabelledFacts/ReadWikidata",
               "ArticleKnowledge", "ShardRows", "WriteManifest"},
    "pairs": {"GroupMentions", "SplitShares", "DrawPairs", "WriteShards", "WriteManifest"},
}


@pytest.mark.parametrize("case", ["sentences", "relx-distant", "relx-distant --sparql", "smiler", "pairs"])
def test_every_job_translates_for_dataflow_and_no_step_holds_a_whole_table(case, shared_data, relx_corpus, tmp_path,
                                                                          translated, capsys):
    assert flex_template.launch([*job_parameters(case, shared_data, relx_corpus, tmp_path / "out"), *DATAFLOW]) == 0, \
        capsys.readouterr().err
    (graph,) = translated
    names = {transform.unique_name for transform in graph.components.transforms.values()}
    assert STEPS[case] <= names
    images = {beam_runner_api_pb2.DockerPayload.FromString(environment.payload).container_image
              for environment in graph.components.environments.values()}
    assert images == {IMAGE}
    assert whole_table_steps(graph) == set()


# --- the template's metadata and launcher --------------------------------------------------------------

def test_the_checked_in_metadata_is_what_the_parsers_give():
    # After changing a job's options: python -m pipelines.flex_template --write dataflow/metadata.json
    assert (ROOT / "dataflow/metadata.json").read_text(encoding="utf-8") == flex_template.metadata_text()


def two_jobs() -> dict[str, argparse.ArgumentParser]:
    first = argparse.ArgumentParser(prog="relxdata run first")
    first.add_argument("--out", required=True, help="output directory")
    first.add_argument("--page-props", help="page_props.sql")
    first.add_argument("--limit", type=int, help="at most %(metavar)s pages", metavar="N")
    first.add_argument("--rate", type=float, default=0.5, help="a share")
    first.add_argument("--overwrite", action="store_true", help="replace")
    second = argparse.ArgumentParser(prog="relxdata run second")
    second.add_argument("--out", required=True, help="output directory")
    second.add_argument("--corpus", nargs="+", required=True, help="corpora")
    second.add_argument("--mode", choices=["a.b", "c"], default="c", help="how (default c)")
    second.add_argument("--overwrite", action="store_true", help="replace the output")
    return {"first": first, "second": second}


def test_metadata_describes_each_option_for_the_jobs_that_have_it():
    described = {parameter["name"]: parameter for parameter in flex_template.metadata(two_jobs())["parameters"]}
    assert described == {
        "job": {"name": "job", "label": "Job", "helpText": "The relxdata job to run, as `relxdata run JOB`: first, "
                "second.", "isOptional": False, "regexes": ["^(first|second)$"]},
        "out": {"name": "out", "label": "Out", "helpText": "output directory", "isOptional": False,
                "regexes": [flex_template.GCS_PATH], "paramType": "GCS_WRITE_FOLDER"},
        "page_props": {"name": "page_props", "label": "Page props", "helpText": "first: page_props.sql",
                       "isOptional": True, "regexes": [flex_template.GCS_PATH], "paramType": "GCS_READ_FILE"},
        "limit": {"name": "limit", "label": "Limit", "helpText": "first: at most N pages", "isOptional": True,
                  "regexes": ["^[0-9]+$"]},
        "rate": {"name": "rate", "label": "Rate", "helpText": "first: a share (default 0.5)", "isOptional": True,
                 "regexes": [flex_template.NUMBER]},
        "overwrite": {"name": "overwrite", "label": "Overwrite",
                      "helpText": "first: replace | second: replace the output", "isOptional": True,
                      "regexes": ["^(true|false)$"]},
        "corpus": {"name": "corpus", "label": "Corpus", "helpText": "second: corpora; several are comma-separated",
                   "isOptional": True, "regexes": [flex_template.GCS_PATHS], "paramType": "TEXT"},
        "mode": {"name": "mode", "label": "Mode", "helpText": "second: how (default c)", "isOptional": True,
                 "regexes": [r"^(a\.b|c)$"]},
    }


def test_an_option_without_help_cannot_become_a_parameter():
    parsers = two_jobs()
    parsers["second"].add_argument("--seed", type=int, default=13)
    with pytest.raises(ValueError, match=r"relxdata run second --seed has no help text"):
        flex_template.metadata(parsers)


def test_the_launcher_turns_parameters_into_the_jobs_options_and_passes_dataflows_on():
    job, arguments = flex_template.job_arguments(
        ["--project=p", "--job=second", "--corpus=gs://b/en,gs://b/de", "--overwrite=true", "--mode", "a.b",
         "--out=gs://b/out", "--region=r", "--labels", "team=nlp"], two_jobs())
    assert job == "second"
    assert arguments == ["--corpus", "gs://b/en", "gs://b/de", "--overwrite", "--mode=a.b", "--out=gs://b/out",
                         "--project=p", "--region=r", "--labels", "team=nlp"]
    assert flex_template.job_arguments(["--job=first", "--overwrite=false", "--out=o"], two_jobs()) == (
        "first", ["--out=o"])


@pytest.mark.parametrize("argv, message", [
    (["--out=o"], "the template parameter job must name one of first, second, not None"),
    (["--job=third", "--out=o"], "the template parameter job must name one of first, second, not 'third'"),
    (["--job=second", "--limit=3"], "the template parameter limit is not an option of the second job"),
    (["--job=first", "--overwrite=yes"], "the template parameter overwrite takes true or false, not 'yes'"),
])
def test_the_launcher_refuses_parameters_the_job_cannot_take(argv, message):
    with pytest.raises(RelxdataError) as raised:
        flex_template.job_arguments(argv, two_jobs())
    assert str(raised.value) == message


def test_a_bad_launch_is_one_line(capsys):
    assert flex_template.launch(["--job=nothing"]) == 2
    assert capsys.readouterr().err == ("relxdata: error: the template parameter job must name one of sentences, "
                                       "relx-distant, smiler, pairs, not 'nothing'\n")
