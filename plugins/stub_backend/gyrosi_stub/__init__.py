"""The `stub` backend: instant, deterministic, scripted Harmony output."""
