"""PostgreSQL: the embedded server, the connection pool and the migrations."""

from cxloop.db.embedded import EmbeddedPostgresError, database_url_for, embedded_postgres

__all__ = ["EmbeddedPostgresError", "database_url_for", "embedded_postgres"]
