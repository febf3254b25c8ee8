"""The pipeline: compaction of the WAL into the lake, and projections into PostgreSQL."""

from cxloop.pipeline.process import DrainError, DrainReport, Pipeline, run_pipeline

__all__ = ["DrainError", "DrainReport", "Pipeline", "run_pipeline"]
