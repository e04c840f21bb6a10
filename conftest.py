"""Thin on purpose: the plugins live in fixtures/, one concern each."""

pytest_plugins = (
    "fixtures.options",
    "fixtures.evidence",
    "fixtures.target",
    "fixtures.gate",
    "fixtures.reporting",
    "fixtures.host",
    "fixtures.extensions",
    "fixtures.operation",
    "fixtures.rollback",
    "fixtures.waivers",
    "fixtures.summary",
    "fixtures.deploy",
    "fixtures.signals",
)
