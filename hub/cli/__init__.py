"""The `hub` command line: the typer app split by command group, terminal rendering and the
narrated demo. Only this wing (and the edges) may print to a terminal."""
