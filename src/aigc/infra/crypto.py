"""Secrets at rest (upstream API keys...): Fernet, with the key from the environment or a file.

The key is ``AIGC_ENCRYPTION_KEY`` when set, else ``data_dir/fernet.key``, created once with
mode 0600. The database then holds only ciphertext: a copy of the database file alone reveals
nothing. Rotating the key means re-registering the secrets it protects.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from aigc.config import Settings


class SecretDecryptError(ValueError):
    """The ciphertext was made under another key or was altered."""


def _key(settings: Settings) -> bytes:
    if settings.encryption_key is not None:
        return settings.encryption_key.get_secret_value().encode()
    path = settings.data_dir / "fernet.key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(Fernet.generate_key())
        tmp.chmod(0o600)
        tmp.replace(path)
    return path.read_bytes().strip()


def encrypt(plaintext: str, settings: Settings | None = None) -> str:
    return Fernet(_key(settings or Settings())).encrypt(plaintext.encode()).decode()


def decrypt(token: str, settings: Settings | None = None) -> str:
    try:
        return Fernet(_key(settings or Settings())).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretDecryptError("the secret cannot be decrypted with this key") from None
