"""Settings from the environment, and the secrets they point at."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class ConfigError(Exception):
    """A setting or secret is missing or unusable; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    app_version: str
    environment: str
    database_host: str
    database_port: int
    database_name: str
    database_user: str
    database_password_file: Path
    jwt_secret_file: Path
    redis_url: str
    migrations_dir: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        port = env.get("DATABASE_PORT", "5432")
        if not port.isdigit():
            raise ConfigError(f"DATABASE_PORT={port!r} is not a port number")
        return cls(
            app_version=env.get("APP_VERSION", "0.0.0"),
            environment=env.get("FRESHTRACK_ENV", "production"),
            database_host=env.get("DATABASE_HOST", "postgres"),
            database_port=int(port),
            database_name=env.get("DATABASE_NAME", "freshtrack"),
            database_user=env.get("DATABASE_USER", "postgres"),
            database_password_file=Path(
                env.get("DATABASE_PASSWORD_FILE", "/run/secrets/postgres_password")
            ),
            jwt_secret_file=Path(env.get("JWT_SECRET_FILE", "/run/secrets/jwt_secret")),
            redis_url=env.get("REDIS_URL", "redis://redis:6379/0"),
            migrations_dir=Path(env.get("MIGRATIONS_DIR", "/app/migrations")),
        )

    @property
    def health_is_broken(self) -> bool:
        """Fault-injection hook: a version ending in -broken never reports healthy."""
        return self.app_version.endswith("-broken")

    @property
    def degrades_under_traffic(self) -> bool:
        """Fault-injection hook: a version ending in -degrading turns healthy, then fails
        some API requests once it has served a few (see server.App.api_fault)."""
        return self.app_version.endswith("-degrading")

    def database_address(self) -> str:
        """Where the database is, for messages (never includes the password)."""
        return (
            f"{self.database_user}@{self.database_host}:{self.database_port}/{self.database_name}"
        )


def read_secret(path: Path, variable: str) -> str:
    """The secret's value: the file's content with surrounding whitespace removed."""
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError(
            f"cannot read the secret named by {variable}: {path}: {error.strerror}"
            " (mount it as a Docker secret, or run scripts/make-secrets)"
        ) from error
    if not value:
        raise ConfigError(f"the secret named by {variable} is empty: {path} (write a value)")
    return value
