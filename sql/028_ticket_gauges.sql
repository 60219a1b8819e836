-- The tickets still in matchmaking, by configuration and status, for
-- state-metrics' gauges (docs/observability.md): counted on every scrape,
-- so from an index of those tickets alone rather than a scan of every
-- ticket kept until its TTL (100,000 and more on a busy day). Ended tickets
-- are counted by the matchmaker's event counters instead.
CREATE INDEX tickets_active ON matchmaking.tickets (configuration_name, status)
    WHERE status IN ('QUEUED', 'SEARCHING', 'REQUIRES_ACCEPTANCE', 'PLACING');
