"""Infra: storage, migrations, jobs, metrics, logging, backup."""
