"""The store: the cache, the code digests that key it, the one memo step, the project lookup."""
