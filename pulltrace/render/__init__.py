"""Views of a Trace: terminal tables, Markdown, HTML with a sequence diagram, diffs.

Every view is a pure function of a `model.Trace`: rows are built first
(`rows.step_rows`), then rendered by tabulate or jinja2 over the same rows.
"""
