"""Helpers shared by the tests and bench/: app and server processes, the browser, tiny models, data corpora."""
