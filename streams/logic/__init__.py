"""Pure logic: decay, item vectors, room state transitions, ranking, dashboard windows (no faust, no redis)."""
