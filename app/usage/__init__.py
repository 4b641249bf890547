"""Usage and cost roll-ups (seed 000 `cost_aggregations`): one row per day, user, provider, model and
task, kept exact by the transaction that records each provider call, and rebuildable from the calls."""
