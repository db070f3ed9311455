"""How both command lines (`codegen`, `yima`) end on an error: one `error: …` line and an exit status.

The one place errors become exit statuses: a refusal (bad input, not found, a conflict: every domain error
but the two below, a bad setting, an unusable file) is status 1; a dependency that is down (Redis, the
database, a domain error of kind `unavailable`) or a throttled caller is status 75 (EX_TEMPFAIL in
sysexits.h: the same command may work later), so a script can tell "retry" from "fix the input".
Anything else is a bug and keeps its traceback.

click's own standalone mode prints a `Usage:` block and exits 2 on a usage error, and a closed stdout
(`codegen batch list | head -1`) would surface as an error; here a usage error is one line with a hint,
and a closed pipe ends quietly, as `ls | head -1` does.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from typing import Any, NoReturn

import click

from app.config import ConfigError
from app.embedded import EmbeddedRedisError
from codegen.errors import DomainError, Kind

EXIT_REFUSED = 1
EXIT_TRY_LATER = 75  # EX_TEMPFAIL
EXIT_STATUS: dict[Kind, int] = {
    Kind.INVALID: EXIT_REFUSED,
    Kind.NOT_FOUND: EXIT_REFUSED,
    Kind.FORBIDDEN: EXIT_REFUSED,
    Kind.CONFLICT: EXIT_REFUSED,
    Kind.INCONSISTENT: EXIT_REFUSED,
    Kind.THROTTLED: EXIT_TRY_LATER,
    Kind.UNAVAILABLE: EXIT_TRY_LATER,
}
EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a writer killed by SIGPIPE


def _os_message(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "disk full: no space left on device (nothing was kept)"
    where = f" {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{':' + where if where else ''}"


def refusal(exc: BaseException) -> tuple[str, int] | None:
    """(the one-line message, the exit status) for an error an operator can act on; None for a bug.

    redis-py and SQLAlchemy are looked up only when already loaded: the line commands (generate, verify,
    readback) never import them, and must not start slower for an error they cannot raise."""
    if isinstance(exc, DomainError):
        return exc.public_message(), EXIT_STATUS[exc.kind]
    if isinstance(exc, ConfigError | EmbeddedRedisError):
        return str(exc), EXIT_REFUSED
    if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):  # a closed pipe ends quietly
        return _os_message(exc), EXIT_REFUSED
    if "redis" in sys.modules and isinstance(exc, sys.modules["redis"].RedisError):
        return f"Redis unavailable ({exc.__class__.__name__}); run the command again once it is back", EXIT_TRY_LATER
    if "sqlalchemy.exc" in sys.modules and isinstance(exc, sys.modules["sqlalchemy.exc"].OperationalError):
        return (f"database unavailable ({exc.orig.__class__.__name__}); run the command again once it is back",
                EXIT_TRY_LATER)
    return None


class OneLineErrors(click.Group):
    """A command group whose commands end on a refusal (see `refusal`) with one `error:` line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            answer = refusal(exc)
            if answer is None:
                raise
            fail(*answer)


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
    except Exception as exc:  # raised outside a OneLineErrors group's commands
        answer = refusal(exc)
        if answer is None:
            raise
        fail(*answer)
    sys.exit(status if isinstance(status, int) else 0)
