"""The command layer: `pulltrace …` argument parsing, the one file loader and the output writer.

Every subcommand lives in its own module here and only parses arguments, calls library
functions and prints. Nothing below this package imports it: the sources (capture,
client, lab), the views (render) and the core know nothing of the command line.
"""
