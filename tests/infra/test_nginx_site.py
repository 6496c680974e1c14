"""The nginx site of docs/deploy.md: what `aigc nginx-config` prints is what the docs show."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aigc.cli import app
from aigc.infra.nginx import site_config

DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
EXAMPLE = ["--instance", "10.0.0.11:8000", "--instance", "10.0.0.12:8000"]
EXAMPLE += ["--server-name", "aigc.example.com"]


def test_the_docs_show_what_the_command_prints_today() -> None:
    """docs/deploy.md cannot drift from the template: its example is the command's output."""
    printed = CliRunner().invoke(app, ["nginx-config", *EXAMPLE])
    assert printed.exit_code == 0, printed.output
    found = re.search(r"<!-- nginx-site: begin.*?-->\n```nginx\n(.*?)```\n", DOC.read_text(), re.S)
    assert found is not None, "docs/deploy.md lost its nginx-site block"
    assert found.group(1) == printed.output
    heading = " ".join(["aigc nginx-config", *EXAMPLE])
    assert f"`{heading}`" in DOC.read_text()


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
