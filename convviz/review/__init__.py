"""A pull request's review: models at git revisions, what changed, seed noise."""
