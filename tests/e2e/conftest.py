"""Fixtures of the end-to-end tests that more than one folder uses: the OIDC provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.oidc_idp import Client, OidcProvider
from tests.e2e.server import Server


@pytest.fixture(scope="session")
def oidc_provider(
    server: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OidcProvider]:
    """A real OpenID Connect provider (oidc-provider) on loopback, with one client per test
    organization, redirecting back to the shared server."""
    clients = [Client("aigc-org-a"), Client("aigc-org-b"), Client("aigc-console")]
    idp = OidcProvider(tmp_path_factory.mktemp("idp"), server.base_url, clients).start()
    yield idp
    idp.stop()
