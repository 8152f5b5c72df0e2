"""Core commands: doctor, train, runs, sync."""
