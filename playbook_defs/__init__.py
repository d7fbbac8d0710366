"""Playbooks are data: one YAML file per playbook here, validated by :mod:`playbook_defs.schema`."""
