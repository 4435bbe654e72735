"""The Django app: models, grader and researcher views, API, admin, import/export."""
