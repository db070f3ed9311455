"""Console test helpers: users with roles in brands, signing in through the real login form, CSRF tokens."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from accounts.roles import ROLES
from accounts.users import create_user, grant_role, user_by_email
from codegen import batches
from codegen.db import transaction
from codegen.models import Brand

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def ensure_brand(app: Flask, slug: str, name: str | None = None) -> int:
    with transaction(app.extensions["yima.db"].sessions) as s:
        brand = s.query(Brand).filter_by(slug=slug).one_or_none()
        if brand is None:
            brand = batches.add_brand(s, slug, name or f"Brand {slug}", f"https://{slug}.example")
        return brand.id


def add_user(app: Flask, email: str, role: str | None = "operator", brand: str = "demo", *,
             platform_admin: bool = False, password: str = PASSWORD) -> int:
    """A user with `role` in `brand` (created if missing); role None: no brand at all."""
    assert role is None or role in ROLES
    brand_id = ensure_brand(app, brand) if role else None
    with transaction(app.extensions["yima.db"].sessions) as s:
        user = user_by_email(s, email) or create_user(s, email, password, platform_admin=platform_admin)
        if brand_id is not None and role is not None:
            grant_role(s, user, brand_id, role)
        return user.id


def csrf_token(client: FlaskClient, path: str = "/ops/login") -> str:
    page = client.get(path)
    found = _CSRF.search(page.get_data(as_text=True))
    assert found, f"no CSRF token on {path} ({page.status_code})"
    return found.group(1)


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> TestResponse:
    token = csrf_token(client)
    resp = client.post("/ops/login", data={"email": email, "password": password, "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return resp


def post_form(client: FlaskClient, path: str, data: dict[str, Any], *, token_from: str = "/ops/",
              **kwargs: Any) -> TestResponse:
    """POST a form the way the browser would: with the CSRF token of the signed-in session."""
    return client.post(path, data={**data, "csrf_token": csrf_token(client, token_from)}, **kwargs)
