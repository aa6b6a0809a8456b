# relxdata's container image, in two roles (docs/dataflow.md):
# - the SDK harness of Dataflow workers (--sdk_container_image), and of Flink or any portable runner
#   (--environment_type DOCKER --environment_config IMAGE): its entrypoint is Beam's boot program;
# - the launcher of relxdata's Dataflow Flex Template (dataflow/metadata.json): Dataflow starts it with
#   Google's template launcher, which runs dataflow/main.py.
#
# Build it from the repository root:
#   docker build -t IMAGE .
#   docker build -t IMAGE --build-arg SPACY_PIPELINE=dataflow/en_core_web_sm-3.8.0-py3-none-any.whl .
#   gcloud builds submit --config dataflow/cloudbuild.yaml --substitutions _IMAGE=IMAGE .

# Must equal the apache-beam that launches the jobs (`pip show apache-beam`): the launcher pickles the
# pipeline for the workers' Beam, and Beam refuses, or breaks on, another version.
ARG BEAM_VERSION=2.77.0
ARG LAUNCHER_IMAGE=gcr.io/dataflow-templates-base/python311-template-launcher-base:latest

FROM ${LAUNCHER_IMAGE} AS launcher

# Python 3.11, as the launcher above; a job launched from outside the image needs Python 3.11 too.
FROM apache/beam_python3.11_sdk:${BEAM_VERSION}
ARG BEAM_VERSION
# A trained spaCy pipeline package for --spacy-model: anything pip installs, such as a wheel copied
# under dataflow/ (a path from the repository root) or the URL of a spaCy model release. None by
# default: relxdata splits sentences with its rule-based splitters.
ARG SPACY_PIPELINE=""
# More pip requirements, such as apache-beam[aws]==2.77.0 for s3:// paths on a Flink cluster.
ARG EXTRA_REQUIREMENTS=""

COPY --from=launcher /opt/google/dataflow/python_template_launcher /opt/google/dataflow/python_template_launcher

WORKDIR /template
COPY setup.py pyproject.toml README.md ./
COPY relxdata relxdata
COPY pipelines pipelines
COPY model model
COPY dataflow dataflow

# The constraint keeps the base image's Beam: pip may otherwise move it for a dependency. Everything
# is installed here, so the launcher needs no requirements file and workers stage nothing.
RUN echo "apache-beam==${BEAM_VERSION}" > /tmp/beam.txt \
    && pip install --no-cache-dir --constraint /tmp/beam.txt ".[dataflow]" ${SPACY_PIPELINE} ${EXTRA_REQUIREMENTS} \
    && pip check \
    && python -c "import relxdata, pipelines.flex_template, spacy"

ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/dataflow/main.py

ENTRYPOINT ["/opt/apache/beam/boot"]
