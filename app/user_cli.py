"""`yima user …`: bootstrap and manage console accounts from the command line (the first admin, resets)."""

from __future__ import annotations

import secrets
import sys

import click

from accounts.audit import record_change
from accounts.roles import ROLES
from accounts.users import create_user, find_brand, grant_role, set_password, user_by_email
from app.config import load_config
from app.runtime import connect_database
from codegen.db import transaction


@click.group("user")
def user_group() -> None:
    """Console accounts: add a user with a role in a brand, reset a password."""


def _password(from_stdin: bool) -> tuple[str, bool]:
    """(password, generated): read from stdin, or a random one to print once."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    return secrets.token_urlsafe(12), True


@user_group.command("add")
@click.argument("email")
@click.option("--brand", "brand_slug", help="The brand's slug (see `codegen brand list`).")
@click.option("--role", type=click.Choice(ROLES), default="operator", show_default=True)
@click.option("--platform-admin", is_flag=True, help="Every role in every brand (for the platform's own staff).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin instead of generating one.")
def add_cmd(email: str, brand_slug: str | None, role: str, platform_admin: bool, password_stdin: bool) -> None:
    """Create a user (or give an existing one ROLE in BRAND) and print the password when it was generated.

    \b
    Examples:  yima user add li.lei@brand.cn --brand demo --role admin
               printf '%s\\n' "$PASSWORD" | yima user add ops@brand.cn --brand demo --password-stdin
    """
    if not brand_slug and not platform_admin:
        raise click.UsageError("give --brand SLUG (with --role), or --platform-admin")
    db = connect_database(load_config())
    with transaction(db.sessions) as s:
        user = user_by_email(s, email)
        password, generated = (None, False) if user else _password(password_stdin)
        if user is None:
            assert password is not None
            user = create_user(s, email, password, platform_admin=platform_admin)
            record_change(s, "cli", "user.create", f"user:{user.id}", brand_id=None,
                          after={"email": user.email, "platform_admin": platform_admin})
        if brand_slug:
            brand = find_brand(s, brand_slug)
            grant_role(s, user, brand.id, role)
            record_change(s, "cli", "user.role", f"user:{user.id}", brand_id=brand.id,
                          after={"email": user.email, "role": role})
        email = user.email
    where = f" as {role} of {brand_slug}" if brand_slug else ""
    click.echo(f"user {email}{where}" + (" (platform admin)" if platform_admin else ""))
    if generated:
        click.echo(f"password: {password}   (shown once; change it with `yima user password {email}`)")


@user_group.command("password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the new password from stdin instead of generating one.")
def password_cmd(email: str, password_stdin: bool) -> None:
    """Set a new password (generated and printed unless --password-stdin); ends the user's sessions."""
    db = connect_database(load_config())
    password, generated = _password(password_stdin)
    with transaction(db.sessions) as s:
        user = user_by_email(s, email)
        if user is None:
            raise click.ClickException(f"no user {email}")
        set_password(s, user, password)
        record_change(s, "cli", "user.password", f"user:{user.id}", brand_id=None, after={"email": user.email})
    click.echo(f"password of {email} changed" + (f": {password}" if generated else ""))
