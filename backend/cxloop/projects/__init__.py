"""Projects: creation, keys (public write key, hashed secret key), and write key → project
from memory or PostgreSQL (what ingest, the compat routes and the SDK config use)."""

from cxloop.projects.cli import projects_group
from cxloop.projects.service import (
    CreatedProject,
    Project,
    ProjectError,
    create_project,
    hash_secret_key,
    list_projects,
    project_for_secret_key,
    rotate_secret_key,
)
from cxloop.projects.suppression import (
    SUBJECT_KINDS,
    SUPPRESSIONS_STATE_KEY,
    SubjectKind,
    SuppressionList,
    event_subject_ids,
    subject_digest,
)
from cxloop.projects.write_keys import (
    WRITE_KEYS_STATE_KEY,
    DatabaseKeyResolver,
    KeyResolver,
    LookupUnavailable,
    WriteKeyCache,
    project_for_write_key,
)

__all__ = [
    "SUBJECT_KINDS",
    "SUPPRESSIONS_STATE_KEY",
    "WRITE_KEYS_STATE_KEY",
    "CreatedProject",
    "DatabaseKeyResolver",
    "KeyResolver",
    "LookupUnavailable",
    "Project",
    "ProjectError",
    "SubjectKind",
    "SuppressionList",
    "WriteKeyCache",
    "create_project",
    "event_subject_ids",
    "hash_secret_key",
    "list_projects",
    "project_for_secret_key",
    "project_for_write_key",
    "projects_group",
    "rotate_secret_key",
    "subject_digest",
]
