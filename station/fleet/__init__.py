"""Force-wide operation: many stations, one centre, NATS JetStream between them."""
