"""The one error type a user sees: a mistake or a bad input, said in one line.

Every layer may raise `UserError` (or a subclass) for something the user can fix or
for input pulltrace refuses: a bad reference, a file it cannot read, a registry answer
that breaks the protocol. The command layer prints it as one line and exits non-zero,
never with a traceback. This module imports nothing, so the core may use it.
"""

from __future__ import annotations


class UserError(Exception):
    """A one-line message that says what was wrong and what to do; never a traceback."""
