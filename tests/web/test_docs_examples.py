"""Docs that run: every JSON example in README.md and docs/*.md, and every `curl … $API/…` line, is sent as
written to the route it documents, on an app seeded like `make run`'s (brand demo, batch 1, the demo
campaign), one fresh app per file, in the file's order.

A ```json block says what it is in an HTML comment on the line before its fence:

    <!-- example: POST /api/v1/campaigns -->               a request body, expected to succeed (2xx)
    <!-- example: POST /api/v1/campaigns as campaign.json --> ... also what `curl -d @campaign.json` sends
    <!-- example: PUT /api/v1/campaigns/{id} → 409 -->      a request expected to get that status
    <!-- example: response -->                             the exact answer to the request before it

A curl line's method, path, headers and body are its own (`-X`, `$API/…`, `-H`, `-d '…'` or `-d @file`); a
trailing `# 201` is the status it expects. A JSON block without a tag fails the test: a new kind of example
needs a tag this test understands. A request that succeeds must also fit its OpenAPI request schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import redis
from flask import Flask

from app.openapi import OPENAPI
from app.seed import DemoInfo, seed_demo_campaign
from tests.web.conftest import seeded_app

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOKEN = "docs-examples-token-0123456789abcdefghij"

TAG = re.compile(r"<!-- example: (?:(?P<response>response)|(?P<method>GET|POST|PUT|DELETE|PATCH) (?P<path>/\S+)"
                 r"(?: as (?P<file>\S+))?(?: → (?P<status>\d{3}))?) -->")
FENCE = re.compile(r"^```(\w*)\s*$")
CURL_PATH = re.compile(r"\$API(/[^\s'\"|)]*)")


@dataclass
class Example:
    where: str  # file:line, for the failure message
    method: str
    path: str  # may hold {id} / $ID: the campaign the file's last create made
    body: str | None  # the raw text sent
    content_type: str | None
    headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None  # None: any 2xx
    response: Any = None  # the documented answer, when one is shown
    is_json_block: bool = False


def _blocks(path: Path) -> Iterator[tuple[int, str, str, str]]:
    """(line number, fence language, the tag line before the fence, the block's text)."""
    lines = path.read_text("utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            yield i + 1, fence.group(1), lines[i - 1] if i else "", "\n".join(lines[i + 1:end])
            i = end
        i += 1


def _curl(where: str, line: str, files: dict[str, str]) -> Example:
    path = CURL_PATH.search(line)
    assert path, f"{where}: a curl line without $API/…: {line}"
    headers: dict[str, str] = {}
    for value in re.findall(r"-H\s+'([^']*)'", line) + re.findall(r'-H\s+"([^"]*)"', line):
        if value == "$T":
            headers["Authorization"] = f"Bearer {TOKEN}"
        else:
            name, _, text = value.partition(":")
            headers[name.strip()] = text.strip()
    inline, from_file = re.search(r"-d\s+'([^']*)'", line), re.search(r"-d\s+@(\S+)", line)
    body = inline.group(1) if inline else files[from_file.group(1)] if from_file else None
    method = re.search(r"-X\s+(\w+)", line)
    # Like curl: -d without -X is a POST, and its body goes as a form unless a Content-Type is given.
    content_type = headers.pop("Content-Type", "application/x-www-form-urlencoded" if body is not None else None)
    expected = re.search(r"#\s*(\d{3})\b[^'\"]*$", line)
    return Example(where, method.group(1) if method else "POST" if body is not None else "GET",
                   "/api/v1" + path.group(1), body, content_type, headers,  # the README's API=…/api/v1
                   int(expected.group(1)) if expected else None)


def examples(path: Path, files: dict[str, str]) -> list[Example]:
    found: list[Example] = []
    for line_no, language, before, text in _blocks(path):
        where = f"{path.name}:{line_no}"
        if language == "json":
            tag = TAG.fullmatch(before.strip())
            assert tag, f"{where}: a JSON example without a tag (<!-- example: METHOD PATH -->) on the line before"
            if tag["response"]:
                assert found and found[-1].is_json_block and found[-1].response is None, \
                    f"{where}: a response example must follow its request example"
                found[-1].response = json.loads(text)
                continue
            json.loads(text)  # valid JSON before anything else
            found.append(Example(where, tag["method"], tag["path"], text, "application/json",
                                 {"Authorization": f"Bearer {TOKEN}"},
                                 int(tag["status"]) if tag["status"] else None, is_json_block=True))
        elif language in ("sh", "bash", ""):
            for offset, line in enumerate(text.replace("\\\n", " ").splitlines()):
                if "curl " in line:
                    found.append(_curl(f"{where}+{offset + 1}", line, files))
    return found


def named_files() -> dict[str, str]:
    """The bodies a curl line sends with `-d @file`: the JSON examples tagged `as file`."""
    files = {}
    for path in DOCS:
        for _, language, before, text in _blocks(path):
            tag = TAG.fullmatch(before.strip())
            if language == "json" and tag and tag["file"]:
                files[tag["file"]] = text
    return files


def _template(method: str, path: str) -> dict[str, Any]:
    """The OpenAPI operation of a concrete path (its query string aside)."""
    path = path.split("?", 1)[0]
    for template, item in OPENAPI["paths"].items():
        if re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", template), path) and method.lower() in item:
            return item[method.lower()]  # type: ignore[no-any-return]
    raise AssertionError(f"{method} {path} is not in the OpenAPI document")


@pytest.fixture
def made_run(tmp_path: Path, redis_client: redis.Redis) -> Iterator[tuple[Flask, DemoInfo]]:
    """What `make run` leaves: the demo brand, product, batch 1 and the demo campaign, published."""
    app, info = seeded_app(tmp_path, ops_token=TOKEN)
    assert info.batch_id == 1  # the docs' batch
    seed_demo_campaign(app.extensions["yima.db"], app.extensions["yima.redis"], info.batch_id)
    yield app, info


def test_the_docs_have_examples() -> None:
    files = named_files()
    assert "campaign.json" in files
    counted = {path.name: len(examples(path, files)) for path in DOCS}
    assert counted["README.md"] >= 5 and counted["rules.md"] >= 8, counted


@pytest.mark.parametrize("doc", DOCS, ids=[p.name for p in DOCS])
def test_every_example_is_accepted_as_written(doc: Path, made_run: tuple[Flask, DemoInfo]) -> None:
    app, info = made_run
    client = app.test_client()
    created: int | None = None
    for ex in examples(doc, named_files()):
        # Placeholders a reader fills in: the campaign the walkthrough created, a code from `make run`'s output.
        fill = {"{id}": str(created), "$ID": str(created), "<a demo inner URL>": info.inner_url}
        path, body = ex.path, ex.body
        for mark, value in fill.items():
            path, body = path.replace(mark, value), body.replace(mark, value) if body is not None else None
        res = client.open(path, method=ex.method, data=body, content_type=ex.content_type, headers=ex.headers)
        answer = res.get_json(silent=True)
        detail = (ex.where, ex.method, path, res.status_code, answer)
        if ex.status is None:
            assert 200 <= res.status_code < 300, detail
        else:
            assert res.status_code == ex.status, detail
        if ex.response is not None:
            assert answer == ex.response, detail
        if res.status_code < 300 and body is not None and ex.content_type == "application/json":
            schema = _template(ex.method, path.split("?", 1)[0])["requestBody"]["content"]["application/json"]["schema"]
            jsonschema.validate(json.loads(body), {**schema, "components": OPENAPI["components"]})
        if ex.method == "POST" and path == "/api/v1/campaigns" and res.status_code == 201:
            created = answer["id"]


def test_an_untagged_json_block_fails(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text('Some text\n\n```json\n{"status": "active"}\n```\n', "utf-8")
    with pytest.raises(AssertionError, match="without a tag"):
        examples(page, {})
    page.write_text('<!-- example: POST /api/v1/campaigns/1/status -->\n```json\n{"status": "active"}\n```\n', "utf-8")
    [example] = examples(page, {})
    assert (example.method, example.path, example.status) == ("POST", "/api/v1/campaigns/1/status", None)
