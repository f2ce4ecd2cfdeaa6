"""One vocabulary for every subcommand: how a parser is made, what each shared flag means.

A flag means one thing everywhere: a capture is *read* from a positional FILE (or
`doctor --capture FILE`); a trace or report is *written* with `--save-trace`/`--save-report`
(pull, doctor) or `-o/--output` (report, show, diff). `--color`, `--lang`, `--wide`,
`--format` and `--show-secrets` are spelt and behave the same wherever they appear.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import TextIO

from pulltrace.render.i18n import LANGUAGES

COLOR_CHOICES = ("auto", "always", "never")

EXIT_CODES = """exit status:
  0    success (doctor: no error finding; lab status: everything healthy)
  1    failure: the pull failed, the doctor found an error, a lab endpoint is down,
       or a one-line error was printed
  2    usage error (a wrong flag or argument)
  130  interrupted (Ctrl-C)"""


def command_parser(subparsers: argparse._SubParsersAction, name: str, *, help: str, description: str,
                   examples: Sequence[str]) -> argparse.ArgumentParser:
    """A subcommand parser whose `--help` ends with examples and the exit statuses."""
    lines = "\n".join(f"  {example}" for example in examples)
    return subparsers.add_parser(
        name, help=help, description=description,
        epilog=f"examples:\n{lines}\n\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_color_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--color", choices=COLOR_CHOICES, default="auto",
                        help="colour the output: auto (on a terminal, unless NO_COLOR is set), always or never")


def add_view_options(parser: argparse.ArgumentParser, formats: Sequence[str], *, default: str | None) -> None:
    """What `report`, `show` and `diff` share: where the view goes and how it reads."""
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="write to OUT (atomically) instead of standard output; "
                             "the format follows OUT's suffix unless --format")
    parser.add_argument("--format", choices=formats, default=default,
                        help=f"{', '.join(formats)} (default: text, or from OUT's suffix)")
    parser.add_argument("--lang", choices=LANGUAGES, default="en", help="label language (default: en)")
    parser.add_argument("--wide", action="store_true",
                        help="text: full URLs and every column, not fitted to 80 columns")
    parser.add_argument("--show-secrets", action="store_true",
                        help="keep tokens, credentials and URL signatures unmasked (a HAR masks them regardless)")
    add_color_option(parser)


def colour_wanted(choice: str, stream: TextIO, env: dict[str, str] | None = None) -> bool:
    """`--color`: always, never, or auto — a terminal, and NO_COLOR (no-color.org) unset or empty."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    values = os.environ if env is None else env
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not values.get("NO_COLOR")
