"""Apache Beam pipelines, one module per job."""
