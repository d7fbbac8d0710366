"""Side effects of a save: the CRM, email and playbook loading. Every activity is idempotent."""
