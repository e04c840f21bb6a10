"""Databases: one protocol (protocol.py) and its engines, PostgreSQL and MariaDB/MySQL;
a new engine goes here."""
