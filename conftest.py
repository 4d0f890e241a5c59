"""Root conftest: load the harness's pytest plugins: the generic one (options, cluster fixtures, artifacts) and
Popcorn's (the `popcorn` fixture, its payload and mesh bring-up)."""

pytest_plugins = ["harness.pytest.plugin", "harness.popcorn.plugin"]
