"""Projects: creation, keys (public write key, hashed secret key) and the write key cache."""

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
from cxloop.projects.write_keys import WriteKeyCache

__all__ = [
    "CreatedProject",
    "Project",
    "ProjectError",
    "WriteKeyCache",
    "create_project",
    "hash_secret_key",
    "list_projects",
    "project_for_secret_key",
    "rotate_secret_key",
]
