-- Processed events are deleted once they are older than the server's
-- --event-retention; this index finds them without reading the others.
CREATE INDEX events_processed ON events (processed_at) WHERE processed_at IS NOT NULL;
