"""docs/operations.md stays true: it names every setting and every metric the code has."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from omniretail import metrics
from omniretail.config import Settings

OPERATIONS = (Path(__file__).parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")


def test_every_setting_is_documented_by_its_environment_variable() -> None:
    prefix = str(Settings.model_config.get("env_prefix", ""))
    variables = {(prefix + name).upper() for name in Settings.model_fields}
    assert "OMNI_DATABASE_URL" in variables
    assert sorted(v for v in variables if f"`{v}`" not in OPERATIONS) == []


def test_every_metric_is_documented() -> None:
    names = {m._name for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)}
    assert "omni_checkouts" in names
    assert sorted(n for n in names if n not in OPERATIONS) == []
