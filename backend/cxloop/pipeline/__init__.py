"""The pipeline: compaction of the WAL into the lake, and projections into PostgreSQL."""

from cxloop.pipeline.process import Pipeline, run_pipeline

__all__ = ["Pipeline", "run_pipeline"]
