"""The nginx site `aigc nginx-config` prints: every instance in it, nothing injected into it."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from aigc.cli import app
from aigc.infra.nginx import site_config


def test_every_instance_is_in_both_upstreams() -> None:
    site = site_config(["10.0.0.11:8000", "[fd00::12]:8000", "unix:/run/aigc.sock"])
    for upstream in ("aigc_api", "aigc_console"):
        block = re.search(rf"upstream {upstream} \{{(.*?)\}}", site, re.S)
        assert block is not None
        servers = re.findall(r"^\s+server (\S+);$", block.group(1), re.M)
        assert servers == ["10.0.0.11:8000", "[fd00::12]:8000", "unix:/run/aigc.sock"]
    assert "client_max_body_size 512m;" in site
    assert "client_max_body_size 1000;" in site_config(["a:1"], max_body_bytes=1000)


@pytest.mark.parametrize(
    ("instances", "listen", "server_name"),
    [
        (["10.0.0.11:8000; include /etc/shadow"], "80", "_"),
        (["10.0.0.11"], "80", "_"),  # no port
        ([], "80", "_"),
        (["10.0.0.11:8000"], "80; }", "_"),
        (["10.0.0.11:8000"], "80", "aigc.example.com; location /x { return 200; }"),
        (["10.0.0.11:8000"], "80", "'quoted'"),
    ],
)
def test_values_that_would_change_the_config_are_refused(
    instances: list[str], listen: str, server_name: str
) -> None:
    with pytest.raises(ValueError):
        site_config(instances, listen, server_name)


def test_the_command_names_a_bad_instance() -> None:
    refused = CliRunner().invoke(app, ["nginx-config", "--instance", "a:1;b"])
    assert refused.exit_code == 2
    assert "a:1;b" in refused.output
