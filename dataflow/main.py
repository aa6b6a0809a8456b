"""The Flex Template's program (FLEX_TEMPLATE_PYTHON_PY_FILE): `--job=JOB --name=value ...` runs as
`relxdata run JOB --name value ...` on the launcher VM, which submits the job to Dataflow."""

import sys

from pipelines.flex_template import launch

if __name__ == "__main__":
    sys.exit(launch(sys.argv[1:]))
