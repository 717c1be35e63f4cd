"""Every payload an OMS client sends to Temporal is encrypted: AES-256-GCM, the key named in the payload's metadata.

Keys come from `OMS_CODEC_KEYS` as `<key id>:<base64 of 32 bytes>,...`. The first key encrypts; every key listed
decrypts, so a key is rotated by putting a new one first and keeping the old ones until no open order (and no
history anyone still reads) carries them. A payload names its key id in clear (`encryption-key-id`) and the id is
bound to the ciphertext as associated data, so a payload cannot be passed off under another key's name.

Failures are encoded too: their message and stack trace travel in an encoded attribute
(`DefaultFailureConverterWithEncodedAttributes`), since an error may quote what it was given.

Payloads that do not carry the codec's encoding are passed through as they are: the histories saved before the
codec (tests/workflows/histories) replay unchanged. Nothing new is ever written that way.
"""

import base64
import binascii
import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = 32
# the environments where the development key is accepted; any other OMS_ENV is production
NON_PRODUCTION = frozenset({"development", "test"})
DEV_KEY_ID = "dev"
DEV_CODEC_KEYS = f"{DEV_KEY_ID}:XcqoXIr5Oj+mViIRaOJLzGHgDjRp2/nygRv4YU9uynE="


class CodecError(ValueError):
    """A payload this codec cannot decode (a key it does not hold, a ciphertext altered), or keys it refuses."""


@dataclass(frozen=True)
class CodecKeys:
    """The keys in order: `current` encrypts, all of `keys` decrypt."""

    current: str
    keys: dict[str, bytes]


def parse_codec_keys(spec: str | None, env: str) -> CodecKeys:
    """`OMS_CODEC_KEYS` (None: the development key, which production refuses)."""
    production = env not in NON_PRODUCTION
    if spec is None:
        if production:
            raise CodecError(f"OMS_ENV={env}: the development codec key is refused in production: set OMS_CODEC_KEYS")
        spec = DEV_CODEC_KEYS
    dev_key = _parse_entries(DEV_CODEC_KEYS)[DEV_KEY_ID]
    keys = _parse_entries(spec)
    if not keys:
        raise CodecError("OMS_CODEC_KEYS names no key: give `<key id>:<base64 32-byte key>,...`")
    if production and (DEV_KEY_ID in keys or dev_key in keys.values()):
        raise CodecError(f"OMS_ENV={env}: the development codec key is refused in production")
    return CodecKeys(current=next(iter(keys)), keys=keys)


def _parse_entries(spec: str) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key_id, sep, encoded = item.partition(":")
        key_id = key_id.strip()
        if not sep or not key_id:
            raise CodecError(f"OMS_CODEC_KEYS entry {_masked(item)!r} is not `<key id>:<base64 32-byte key>`")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError) as err:
            raise CodecError(f"OMS_CODEC_KEYS key {key_id!r} is not valid base64") from err
        if len(key) != KEY_BYTES:
            raise CodecError(f"OMS_CODEC_KEYS key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}")
        if key_id in keys:
            raise CodecError(f"OMS_CODEC_KEYS names key id {key_id!r} twice")
        keys[key_id] = key
    return keys


def _masked(item: str) -> str:
    """An entry as an error may quote it: never the key material."""
    key_id, _, _ = item.partition(":")
    return f"{key_id}:***"


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: CodecKeys) -> None:
        self._current = keys.current
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encode_one(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decode_one(p) for p in payloads]

    def encode_one(self, payload: Payload) -> Payload:
        key_id = self._current
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=nonce + sealed)

    def decode_one(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before the codec: nothing to decrypt
        raw_id = payload.metadata.get(KEY_ID)
        if raw_id is None:
            raise CodecError(f"an encrypted payload without its {KEY_ID!r}: it cannot be decrypted")
        key_id = raw_id.decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            held = ", ".join(self._ciphers)
            raise CodecError(
                f"a payload is encrypted with key id {key_id!r}, which OMS_CODEC_KEYS does not hold (it holds: {held})"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, raw_id)
        except InvalidTag as err:
            raise CodecError(
                f"a payload encrypted with key id {key_id!r} does not authenticate: it was altered or truncated"
            ) from err
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded


@lru_cache
def codec_for(spec: str | None, env: str) -> EncryptionCodec:
    return EncryptionCodec(parse_codec_keys(spec, env))


def data_converter(spec: str | None, env: str) -> DataConverter:
    """pydantic for values, the encryption codec for bytes, failures' messages and stack traces encoded."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec_for(spec, env),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
