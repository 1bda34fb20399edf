"""Small, optional hooks: for the places where a process ends, and for OpenTelemetry.

Each module is one idea and imports nothing beyond the standard library and
``teleflow_py`` until you call it (the Celery hook imports Celery only when connected):

- :mod:`~teleflow_py.integrations.signals`: flush on SIGTERM (containers, systemd).
- :mod:`~teleflow_py.integrations.celery`: flush in each Celery worker child before it ends.
- :mod:`~teleflow_py.integrations.gunicorn`: flush in each gunicorn worker before it ends.
- :mod:`~teleflow_py.integrations.serverless`: flush at the end of each invocation.
- :mod:`~teleflow_py.integrations.otel`: OpenTelemetry spans and metrics (when installed).

See the *Deployments* page of the documentation for which one a deployment needs.
"""
