"""TenFour's domain: calls, callers, conversations, the outbox, ratings and jobs."""
