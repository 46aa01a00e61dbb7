"""`omni tenant settings`, on both databases: prints, changes, refuses bad values."""

from __future__ import annotations

import json
import uuid

import pytest
from typer.testing import CliRunner

from omniretail.cli import app

runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgresql"])
def slug(
    request: pytest.FixtureRequest, backend_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> str:
    monkeypatch.setenv("OMNI_DATABASE_URL", backend_urls[request.param])
    name = f"cli-{uuid.uuid4().hex[:8]}"
    created = runner.invoke(app, ["tenant", "create", name, "--name", "CLI shop"])
    assert created.exit_code == 0, created.output
    return name


def test_settings_are_printed_and_changed_with_set(slug: str) -> None:
    shown = runner.invoke(app, ["tenant", "settings", slug])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["max_shipments"] == 3
    changed = runner.invoke(
        app,
        [
            "tenant", "settings", slug,
            "--set", "max_shipments=2",
            "--set", "delivery_fees.ship=800",
            "--set", "allow_negative_stock=true",
            "--set", "returns.non_returnable_categories=[\"underwear\"]",
        ],
    )  # fmt: skip
    assert changed.exit_code == 0, changed.output
    body = json.loads(changed.stdout)
    assert body["max_shipments"] == 2
    assert body["delivery_fees"]["ship"] == 800
    assert body["allow_negative_stock"] is True
    assert body["returns"]["non_returnable_categories"] == ["underwear"]
    reset = runner.invoke(app, ["tenant", "settings", slug, "--set", "max_shipments=null"])
    assert json.loads(reset.stdout)["max_shipments"] == 3


@pytest.mark.parametrize(
    "assignment",
    ["max_shipments=0", "max_shipments", "colour=red", "delivery_fees.ship=-5", "=3"],
)
def test_a_bad_setting_exits_non_zero_naming_it_and_changes_nothing(
    slug: str, assignment: str
) -> None:
    bad = runner.invoke(app, ["tenant", "settings", slug, "--set", assignment])
    assert bad.exit_code == 2
    assert "error" in bad.output
    shown = json.loads(runner.invoke(app, ["tenant", "settings", slug]).stdout)
    assert shown["max_shipments"] == 3
    assert shown["delivery_fees"]["ship"] == 0


def test_an_unknown_tenant_is_refused(slug: str) -> None:
    assert runner.invoke(app, ["tenant", "settings", f"{slug}-nope"]).exit_code == 2
