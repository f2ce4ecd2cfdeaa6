"""`pulltrace completion bash|zsh|fish`: shell completion, by argcomplete.

    eval "$(pulltrace completion bash)"        # in ~/.bashrc
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from pulltrace.commands.main import Exit

SHELLS = ("bash", "zsh", "fish", "tcsh", "powershell")


def register(subparsers: argparse._SubParsersAction) -> None:
    from pulltrace.commands.vocabulary import command_parser

    p = command_parser(
        subparsers, "completion",
        help="print the shell code that completes pulltrace's commands and flags",
        description="Print the code that makes SHELL complete pulltrace's subcommands, flags and their "
                    "choices. Load it from your shell's start-up file.",
        examples=['eval "$(pulltrace completion bash)"      # ~/.bashrc',
                  'eval "$(pulltrace completion zsh)"       # ~/.zshrc',
                  "pulltrace completion fish | source       # ~/.config/fish/config.fish"],
    )
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import argcomplete

    print(argcomplete.shellcode(["pulltrace"], shell=args.shell), end="")
    return Exit.OK


def complete(parser: argparse.ArgumentParser) -> NoReturn:
    """Answer the shell's completion request (argcomplete's protocol) and exit."""
    import argcomplete

    argcomplete.autocomplete(parser)
    raise SystemExit(Exit.OK)  # reached only when the environment was not a real request
