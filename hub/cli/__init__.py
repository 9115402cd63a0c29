"""The `hub` command line: the hub's own command groups, terminal rendering, and the app that
mounts the worker's and the edges' groups. Only this wing (and those groups) prints."""
