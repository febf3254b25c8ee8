"""Projects: creation, keys (public write key, hashed secret key), and write key → project
from memory or PostgreSQL (what ingest, the compat routes and the SDK config use)."""

from typing import TYPE_CHECKING

from cxloop.lazy import lazy_exports
from cxloop.projects.service import (
    CreatedProject,
    KeyKind,
    KeyRotation,
    Project,
    ProjectError,
    ProjectKeys,
    RetiredKey,
    create_project,
    find_project,
    hash_secret_key,
    list_projects,
    project_for_secret_key,
    project_keys,
    revoke_retired_keys,
    rotate_key,
    rotate_secret_key,
    rotate_write_key,
)
from cxloop.projects.suppression import (
    SUBJECT_KINDS,
    SUPPRESSIONS_STATE_KEY,
    SubjectKind,
    SuppressionList,
    event_subject_ids,
    id_text,
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

if TYPE_CHECKING:
    from cxloop.projects.cli import (
        project_option,
        project_option_id,
        projects_group,
        run_for_project,
    )

# The commands and their options (click, rich) load where a command line is built; ingest and
# the pipeline resolve keys and suppressions without them.
__getattr__ = lazy_exports(
    __name__,
    {
        "project_option": "cxloop.projects.cli",
        "project_option_id": "cxloop.projects.cli",
        "projects_group": "cxloop.projects.cli",
        "run_for_project": "cxloop.projects.cli",
    },
)

__all__ = [
    "SUBJECT_KINDS",
    "SUPPRESSIONS_STATE_KEY",
    "WRITE_KEYS_STATE_KEY",
    "CreatedProject",
    "DatabaseKeyResolver",
    "KeyKind",
    "KeyResolver",
    "KeyRotation",
    "LookupUnavailable",
    "Project",
    "ProjectError",
    "ProjectKeys",
    "RetiredKey",
    "SubjectKind",
    "SuppressionList",
    "WriteKeyCache",
    "create_project",
    "event_subject_ids",
    "find_project",
    "hash_secret_key",
    "id_text",
    "list_projects",
    "project_for_secret_key",
    "project_for_write_key",
    "project_keys",
    "project_option",
    "project_option_id",
    "projects_group",
    "revoke_retired_keys",
    "rotate_key",
    "rotate_secret_key",
    "rotate_write_key",
    "run_for_project",
    "subject_digest",
]
