"""Evidence records: content-addressed image files and the hash-chained audit log."""
