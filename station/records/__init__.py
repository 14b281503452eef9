"""Evidence records: content-addressed image files, the hash-chained audit log, evidence bundles."""
