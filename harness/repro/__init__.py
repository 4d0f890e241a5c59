"""One-command reproduction of failures: the bundle a failed test leaves, and its replay."""
