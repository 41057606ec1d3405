"""Test helpers shipped with gatebook: a throw-away PostgreSQL server and the store contract suite."""
