"""Databases: connecting to the target's database (PostgreSQL today; a new engine goes here)."""
