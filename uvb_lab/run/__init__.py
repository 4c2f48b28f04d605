"""Run plumbing: which run a command is (identity), its folder, its lock, and what a launch would do (plan)."""
