"""The SQL store: the default CRM adapter and the email outbox (SQLAlchemy 2; SQLite or PostgreSQL)."""
