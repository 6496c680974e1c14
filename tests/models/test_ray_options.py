"""Ray Serve deployment options (config.DeploymentOptions): how they merge and what they
refuse. No Ray needed: these are checked before anything reaches a cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from typer.testing import CliRunner

from aigc.config import DeploymentOptions, Settings
from aigc.errors import InvalidRequest
from aigc.models.registry import check_deployment
from tests.templates import slow


def test_options_merge_defaults_star_model_then_record(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIGC_RAY_DEPLOYMENTS",
        '{"*": {"num_replicas": 2, "max_queued_requests": 10},'
        ' "hf-big": {"ray_actor_options": {"num_gpus": 1}}}',
    )
    settings = Settings()
    big = settings.deployment_options("hf-big")
    assert big.num_replicas == 2 and big.max_queued_requests == 10
    assert big.ray_actor_options == {"num_gpus": 1}
    other = settings.deployment_options("template-x")
    assert other.ray_actor_options == {} and other.max_ongoing_requests == 16
    # The record's own options win; autoscaling replaces a fixed count, not only adds to it.
    own = settings.deployment_options("hf-big", {"autoscaling_config": {"max_replicas": 4}})
    assert own.num_replicas is None and own.autoscaling_config == {"max_replicas": 4}
    assert own.ray_actor_options == {"num_gpus": 1}


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        ({"num_replicas": 0}, "num_replicas"),
        ({"num_replicas": 1, "autoscaling_config": {"max_replicas": 2}}, "not both"),
        ({"autoscaling_config": {"min_replicas": 3, "max_replicas": 2}}, "min_replicas"),
        ({"ray_actor_options": {"num_gpu": 1}}, "num_gpu"),
        ({"ray_actor_options": {"num_cpus": -1}}, "num_cpus"),
        ({"replicas": 2}, "replicas"),
        ({"max_ongoing_requests": 0}, "max_ongoing_requests"),
    ],
)
def test_bad_options_are_refused_by_name(bad: dict[str, object], said: str) -> None:
    with pytest.raises(ValidationError, match=said):
        DeploymentOptions.model_validate(bad)
    with pytest.raises(InvalidRequest) as refused:
        check_deployment(bad)
    assert refused.value.param == "deployment" and said in refused.value.message


def test_bad_setting_fails_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIGC_RAY_DEPLOYMENTS", '{"*": {"num_replicas": "many"}}')
    with pytest.raises(ValidationError, match="num_replicas"):
        Settings()


def test_no_address_means_in_process() -> None:
    from aigc.app import remote_serving

    assert remote_serving(Settings()) is None


def test_cli_stores_a_models_deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`aigc models add-template ... --deployment '{...}'`: checked, stored with the record."""
    from aigc.cli import app
    from aigc.infra.db import Database
    from aigc.infra.schema import ModelRecord

    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "data"))
    yaml = tmp_path / "t.yaml"
    yaml.write_text(slow("你好 hello", 0), encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    add = ["models", "add-template", "template-x", str(yaml), "--shared", "--deployment"]
    bad = runner.invoke(app, [*add, '{"num_replicas": 0}'])
    assert bad.exit_code == 1 and "num_replicas" in bad.output
    not_json = runner.invoke(app, [*add, "{nope"])
    assert not_json.exit_code == 2 and "not JSON" in not_json.output
    good = runner.invoke(app, [*add, '{"num_replicas": 2}'])
    assert good.exit_code == 0, good.output
    db = Database(Settings().db_url)
    try:
        with db.session() as s:
            record = s.scalars(select(ModelRecord).where(ModelRecord.name == "template-x")).one()
            assert record.config["deployment"] == {"num_replicas": 2}
    finally:
        db.dispose()
