"""Developer-only tools of this repository: running mitmdump for tests, benches and samples,
capturing the lab samples and rendering the report gallery. Not part of the installed package."""
