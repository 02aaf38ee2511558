"""The model graph: layer lookup, the split/forward interpreter, output heads, re-initialization."""
