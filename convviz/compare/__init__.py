"""Two versions of a model compared: the diff and the gate."""
