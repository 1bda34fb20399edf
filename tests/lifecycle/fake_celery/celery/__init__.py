"""A stand-in for Celery in the tests: only what ``teleflow_py.integrations.celery`` uses."""
