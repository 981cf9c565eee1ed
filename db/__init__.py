"""Persistence for rating studies: SQLAlchemy 2.0 models, engine set-up, repositories."""
