"""Root conftest: load the harness's pytest plugin (options, cluster fixtures, artifacts)."""

pytest_plugins = ["harness.pytest.plugin"]
