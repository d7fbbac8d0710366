"""The save engine: one workflow that interprets any playbook definition."""
