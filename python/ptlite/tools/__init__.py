"""Command-line tools: ptlite-benchmark and ptlite-inspect."""
