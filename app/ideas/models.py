"""Ideas, votes and notes (seed 003 `ideas`, `idea_votes`, `idea_notes`)."""
