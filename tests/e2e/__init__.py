"""End-to-end tests: real instances and packets (a package, so its conftest never collides with tests/api)."""
