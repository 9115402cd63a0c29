"""The audit case index: its sqlite store, the indexer that keeps it current, and the reads
of one case (through the index) or of the whole log, for verification and replay."""
