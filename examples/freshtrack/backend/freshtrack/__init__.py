"""FreshTrack demo backend: a small HTTP API over PostgreSQL and Redis.

Only Debian's python3, python3-psycopg and python3-redis are needed, so the image
builds from debian:bookworm-slim without pip.
"""
