"""The relying party's side of OpenID Connect's Authorization Code flow, with Authlib.

- Discovery: ``{issuer}/.well-known/openid-configuration``, whose ``issuer`` must equal the
  configured one exactly (OpenID Connect Discovery §4.3), then the JWKS it names. Both cached
  for ``METADATA_TTL_S``; a token signed with a key id the cache lacks refetches the JWKS once
  (key rotation).
- The authorization request: ``response_type=code``, ``state``, ``nonce``, PKCE ``S256``
  (Authlib's ``prepare_grant_uri`` and ``create_s256_code_challenge``).
- The token request: the code, the PKCE verifier and the client secret (HTTP Basic unless the
  provider supports only ``client_secret_post``).
- The ID token: signature against the JWKS (asymmetric algorithms the provider announces, never
  ``none`` or HMAC), then Authlib's ``CodeIDToken`` claims: ``iss`` = the issuer, ``aud``
  holds the client id (``azp`` too when there are several audiences), ``exp``/``iat``/``nbf``
  within the allowed clock skew, ``at_hash`` when present, and ``nonce`` equal to the one this
  sign-in sent (compared in constant time).

Every request to the provider goes through ``infra.netguard`` (SSRF rules): public addresses
only, checked at connect time on every hop, unless the provider is configured with
``allow_private_network`` (then loopback and private networks are reachable too, link-local and
cloud metadata addresses never). Redirects are not followed.
"""

from __future__ import annotations

import base64
import hmac
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import errors as jose_errors
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from aigc.infra.fetch import FetchRefused, fetch_bytes
from aigc.infra.netguard import AddressPolicy, UnsafeURL, guarded_client, parse_networks

METADATA_TTL_S = 300.0
MAX_DOCUMENT_BYTES = 512 * 1024
TIMEOUT_S = 10.0
MAX_CLOCK_SKEW_S = 300
ASYMMETRIC: tuple[str, ...] = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
ASYMMETRIC += ("ES256", "ES384", "ES512", "EdDSA")
# What allow_private_network opens: loopback and private ranges; never link-local (cloud
# metadata at 169.254.169.254) or the rest of what netguard refuses.
PRIVATE_NETWORKS = (
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
)


class OidcError(Exception):
    """The sign-in cannot go on; ``reason`` is a short code for the page and the audit."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach one provider (what the flow needs of its configuration)."""

    issuer: str
    client_id: str
    allow_private_network: bool

    @property
    def networks(self) -> tuple[str, ...]:
        return PRIVATE_NETWORKS if self.allow_private_network else ()

    @property
    def policy(self) -> AddressPolicy:
        return AddressPolicy(allowed=parse_networks(self.networks))


@dataclass(frozen=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    algorithms: tuple[str, ...]
    token_auth_methods: tuple[str, ...]
    jwks: dict[str, Any]


_cache: dict[Endpoint, tuple[float, Metadata]] = {}
_cache_lock = threading.Lock()


def _get_json(endpoint: Endpoint, url: str, what: str) -> dict[str, Any]:
    _check_scheme(endpoint, url, what)
    try:
        download = fetch_bytes(url, MAX_DOCUMENT_BYTES, TIMEOUT_S, endpoint.networks)
        data = json.loads(download.data)
    except FetchRefused as exc:
        raise OidcError("provider_unreachable", f"The {what} could not be fetched: {exc}") from None
    except ValueError:
        raise OidcError("provider_invalid", f"The {what} is not JSON") from None
    if not isinstance(data, dict):
        raise OidcError("provider_invalid", f"The {what} is not a JSON object")
    return data


def _check_scheme(endpoint: Endpoint, url: str, what: str) -> None:
    scheme = urlsplit(url).scheme
    if scheme != "https" and not (endpoint.allow_private_network and scheme == "http"):
        raise OidcError("provider_invalid", f"The {what} must be an https:// URL")


def discover(endpoint: Endpoint, force: bool = False) -> Metadata:
    """The provider's metadata and keys, from the cache when fresh."""
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(endpoint)
    if cached and not force and now - cached[0] < METADATA_TTL_S:
        return cached[1]
    _check_scheme(endpoint, endpoint.issuer, "issuer")
    url = endpoint.issuer.rstrip("/") + "/.well-known/openid-configuration"
    doc = _get_json(endpoint, url, "discovery document")
    if doc.get("issuer") != endpoint.issuer:
        raise OidcError(
            "issuer_mismatch",
            f"The discovery document names the issuer {str(doc.get('issuer'))[:200]!r}, "
            f"not {endpoint.issuer!r}",
        )
    missing = [
        k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not doc.get(k)
    ]
    if missing:
        raise OidcError("provider_invalid", f"The discovery document lacks {', '.join(missing)}")
    for key in ("authorization_endpoint", "token_endpoint", "end_session_endpoint"):
        if doc.get(key):
            _check_scheme(endpoint, str(doc[key]), key)
    jwks = _get_json(endpoint, str(doc["jwks_uri"]), "JWKS")
    announced = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
    metadata = Metadata(
        issuer=endpoint.issuer,
        authorization_endpoint=str(doc["authorization_endpoint"]),
        token_endpoint=str(doc["token_endpoint"]),
        jwks_uri=str(doc["jwks_uri"]),
        end_session_endpoint=str(doc["end_session_endpoint"])
        if doc.get("end_session_endpoint")
        else None,
        algorithms=tuple(a for a in announced if a in ASYMMETRIC) or ("RS256",),
        token_auth_methods=tuple(
            doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        ),
        jwks=jwks,
    )
    try:
        KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except (jose_errors.JoseError, ValueError, KeyError, TypeError):
        raise OidcError("provider_invalid", "The JWKS holds no usable key") from None
    with _cache_lock:
        _cache[endpoint] = (now, metadata)
    return metadata


def forget(endpoint: Endpoint) -> None:
    with _cache_lock:
        _cache.pop(endpoint, None)


@dataclass(frozen=True)
class Authorization:
    url: str
    state: str
    nonce: str
    code_verifier: str


def authorization_request(
    metadata: Metadata, client_id: str, redirect_uri: str, scopes: list[str]
) -> Authorization:
    """A fresh ``state``, ``nonce`` and PKCE verifier, and the URL that carries them."""
    state, nonce, verifier = generate_token(43), generate_token(43), generate_token(64)
    url = prepare_grant_uri(
        metadata.authorization_endpoint,
        client_id=client_id,
        response_type="code",
        redirect_uri=redirect_uri,
        scope=" ".join(scopes),
        state=state,
        nonce=nonce,
        code_challenge=create_s256_code_challenge(verifier),
        code_challenge_method="S256",
    )
    return Authorization(url, state, nonce, verifier)


def exchange_code(
    endpoint: Endpoint,
    metadata: Metadata,
    client_secret: str,
    code: str,
    code_verifier: str,
    redirect_uri: str,
) -> dict[str, Any]:
    """The token response for ``code`` (an ``id_token`` in it), or ``OidcError``."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    headers = {"Accept": "application/json"}
    basic = "client_secret_basic" in metadata.token_auth_methods
    if basic or "client_secret_post" not in metadata.token_auth_methods:
        pair = f"{quote(endpoint.client_id, safe='')}:{quote(client_secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    else:
        form |= {"client_id": endpoint.client_id, "client_secret": client_secret}
    policy = endpoint.policy
    try:
        policy.check_url(metadata.token_endpoint)
        with guarded_client(policy, timeout=TIMEOUT_S, follow_redirects=False) as client:
            response = client.post(metadata.token_endpoint, data=form, headers=headers)
    except UnsafeURL as exc:
        raise OidcError("provider_unreachable", f"The token endpoint is refused: {exc}") from None
    except httpx.HTTPError as exc:
        raise OidcError(
            "provider_unreachable",
            f"The token endpoint could not be reached ({type(exc).__name__})",
        ) from None
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise OidcError("provider_invalid", "The token response is too large")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise OidcError("token_error", f"The token endpoint answered HTTP {response.status_code}")
    if response.status_code != 200 or "error" in body:
        error = str(body.get("error", "unknown"))[:100]
        raise OidcError("token_error", f"The provider refused the code ({error})")
    if not isinstance(body.get("id_token"), str):
        raise OidcError("token_error", "The token response holds no ID token")
    return body


_CLAIM_REASONS = {
    "iss": "issuer_mismatch",
    "aud": "audience_mismatch",
    "azp": "audience_mismatch",
    "nonce": "nonce_mismatch",
    "exp": "token_expired",
    "iat": "token_time",
    "nbf": "token_time",
    "at_hash": "token_invalid",
    "sub": "token_invalid",
}


def validate_id_token(
    endpoint: Endpoint,
    metadata: Metadata,
    id_token: str,
    nonce: str,
    access_token: str | None,
    clock_skew_s: int,
) -> dict[str, Any]:
    """The ID token's claims once its signature and claims hold; ``OidcError`` names what did
    not (``signature_invalid``, ``issuer_mismatch``, ``audience_mismatch``,
    ``nonce_mismatch``, ``token_expired``, ``token_time``, ``token_invalid``)."""
    leeway = max(0, min(int(clock_skew_s), MAX_CLOCK_SKEW_S))
    registry = JWSRegistry(algorithms=list(metadata.algorithms), strict_check_header=False)
    token = None
    for attempt in (metadata, None):
        keys = attempt.jwks if attempt is not None else discover(endpoint, force=True).jwks
        try:
            token = jwt.decode(id_token, KeySet.import_key_set(keys), registry=registry)  # type: ignore[arg-type]
            break
        except jose_errors.InvalidKeyIdError:
            continue  # maybe rotated: fetch the JWKS again, once
        except (jose_errors.BadSignatureError, jose_errors.UnsupportedAlgorithmError):
            raise OidcError("signature_invalid", "The ID token's signature is not valid") from None
        except (jose_errors.JoseError, ValueError, TypeError):
            raise OidcError("token_invalid", "The ID token cannot be read") from None
    if token is None:
        raise OidcError("signature_invalid", "The ID token is signed with an unknown key")

    def same_nonce(_claims: object, value: object) -> bool:
        return isinstance(value, str) and hmac.compare_digest(value.encode(), nonce.encode())

    options: dict[str, Any] = {
        "iss": {"essential": True, "value": endpoint.issuer},
        "aud": {"essential": True, "value": endpoint.client_id},
        "sub": {"essential": True},
        "nonce": {"essential": True, "validate": same_nonce},
    }
    params: dict[str, Any] = {"client_id": endpoint.client_id}
    if access_token:
        params["access_token"] = access_token
    claims = CodeIDToken(token.claims, token.header, options, params)
    try:
        claims.validate(leeway=leeway)
    except jose_errors.ExpiredTokenError:
        raise OidcError("token_expired", "The ID token has expired") from None
    except jose_errors.ClaimError as exc:
        name = str(getattr(exc, "claim", "") or "")
        reason = _CLAIM_REASONS.get(name, "token_invalid")
        raise OidcError(reason, f"The ID token's '{name or 'claims'}' is not valid") from None
    except jose_errors.JoseError:
        raise OidcError("token_invalid", "The ID token's claims are not valid") from None
    iat = claims.get("iat")
    if isinstance(iat, int | float) and iat > time.time() + leeway:
        raise OidcError("token_time", "The ID token is issued in the future")
    return dict(claims)


def as_claims(value: Mapping[str, Any]) -> dict[str, Any]:
    """Plain JSON-able claims (for previews and mapping)."""
    return json.loads(json.dumps(value, default=str))
