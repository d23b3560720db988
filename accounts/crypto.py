"""Secrets at rest (vendor credentials, webhook signing secrets): Fernet (AES-128-CBC + HMAC) from ``cryptography``.

Keys come from ``GATEWAY_ENCRYPTION_KEYS`` (comma-separated Fernet keys, the first one
encrypts, all decrypt, so keys can be rotated), else one derived from SECRET_KEY.
"""

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class CredentialsUnreadable(Exception):
    pass


@lru_cache(maxsize=4)
def _fernet(secret_key, configured):
    if configured:
        return MultiFernet([Fernet(key.encode()) for key in configured])
    derived = hmac.new(secret_key.encode(), b"gateway channel credentials", hashlib.sha256).digest()
    return MultiFernet([Fernet(base64.urlsafe_b64encode(derived))])


def fernet():
    return _fernet(settings.SECRET_KEY, tuple(settings.GATEWAY_ENCRYPTION_KEYS))


def encrypt(plaintext):
    if not plaintext:
        return ""
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token):
    if not token:
        return ""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise CredentialsUnreadable("The stored credentials cannot be decrypted with the configured keys") from None
