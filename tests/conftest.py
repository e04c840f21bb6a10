"""The suite's own tests. pytester is enabled for the plugin tests."""

pytest_plugins = ("pytester",)
