"""How both command lines (`codegen`, `yima`) end on an error: one `error: …` line and exit status 1.

click's own standalone mode prints a `Usage:` block and exits 2 on a usage error, and a closed stdout
(`codegen batch list | head -1`) would surface as an error; here a usage error is one line with a hint,
and a closed pipe ends quietly, as `ls | head -1` does.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, NoReturn

import click

from accounts.errors import AccountsError
from app.config import ConfigError
from app.embedded import EmbeddedRedisError

# What an operator can fix from the message alone, raised before a command's own error handling runs
# (loading the config, starting the embedded Redis).
_OPERATOR_ERRORS = (ConfigError, EmbeddedRedisError, AccountsError)
EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a writer killed by SIGPIPE


def fail(message: str, status: int = 1) -> NoReturn:
    with contextlib.suppress(OSError):  # stderr gone too (a closed terminal): the exit status still tells
        click.echo(f"error: {message}", err=True)
    sys.exit(status)


def _quiet_broken_pipe() -> NoReturn:
    # Point stdout at /dev/null so the interpreter's final flush does not raise (and print) again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(EXIT_BROKEN_PIPE)


def run_cli(group: click.Group, prog_name: str) -> NoReturn:
    """Run a click group as a program; every way it can fail ends in one `error:` line.

    click's `main()` is bypassed (except for shell completion) because it turns a closed stdout into
    status 1, which a script would read as a failure."""
    if os.environ.get(f"_{prog_name.upper()}_COMPLETE"):
        group.main(prog_name=prog_name)
    status: Any = 0
    try:
        with group.make_context(prog_name, sys.argv[1:]) as ctx:
            status = group.invoke(ctx)
        sys.stdout.flush()
    except click.exceptions.Exit as exc:  # --help, --version, ctx.exit()
        status = exc.exit_code
    except BrokenPipeError:
        _quiet_broken_pipe()
    except click.exceptions.NoArgsIsHelpError as exc:  # a bare `codegen` or `codegen batch`: its help
        click.echo(exc.format_message(), err=True)
        sys.exit(1)
    except click.UsageError as exc:  # a missing option, a bad value, an unknown command
        where = exc.ctx.command_path if exc.ctx else prog_name
        fail(f"{exc.format_message().rstrip('.')}; see '{where} --help'")
    except click.ClickException as exc:
        fail(exc.format_message())
    except (click.Abort, EOFError, KeyboardInterrupt):  # Ctrl-C, or end of input at a prompt
        fail("aborted", status=130)
    except _OPERATOR_ERRORS as exc:
        fail(str(exc))
    sys.exit(status if isinstance(status, int) else 0)
