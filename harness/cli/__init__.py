"""CLI sub-commands, one module each, registered by harness.cli.main."""
