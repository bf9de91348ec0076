"""The gpt-oss tools (browser, python, apply_patch) as GyroSI plugins."""
