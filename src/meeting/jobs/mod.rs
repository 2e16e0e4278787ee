//! Durable meeting jobs: the job store (SQLite, PostgreSQL) and the worker pool.
