"""Console pages over the grid's archive: the archive tree with its details and meter lists, and
the archive import."""
