"""Runner options every relxdata pipeline shares."""

import logging

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipelines.launch import beam_pipeline, pipeline_options, pipeline_runner

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("args, level", [
    ([], logging.ERROR),
    (["--default_sdk_harness_log_level=INFO"], logging.INFO),
])
def test_local_worker_processes_log_at_the_harness_level(args, level):
    # Beam's in-process runner starts its worker processes without the pipeline options, at INFO.
    options = pipeline_options(["--direct_num_workers=2", *args])
    with beam_pipeline(options) as pipeline:
        levels = pipeline | beam.Create([1, 2]) | beam.Map(lambda _: logging.getLogger().getEffectiveLevel())
        assert_that(levels, equal_to([level, level]))


def test_other_runners_are_left_to_beam():
    assert pipeline_runner(pipeline_options(["--runner=DataflowRunner"])) is None
