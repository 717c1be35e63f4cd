"""The payload codec: what Temporal stores is ciphertext under a named key; keys rotate; forgeries are refused."""

import base64
import os

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from domain.models import PlaceOrder
from starter.codec import DEV_CODEC_KEYS, KEY_ID, CodecError, EncryptionCodec, data_converter, parse_codec_keys
from tests.orders import place_order

SECRET = "hanako.codec@example.jp"


def key_spec(*key_ids: str) -> str:
    return ",".join(f"{k}:{base64.b64encode(os.urandom(32)).decode()}" for k in key_ids)


def codec(spec: str, env: str = "production") -> EncryptionCodec:
    return EncryptionCodec(parse_codec_keys(spec, env))


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


async def test_an_encoded_payload_hides_its_value_and_decodes_to_it() -> None:
    # given a codec with one key
    c = codec(key_spec("k1"))
    # when a payload naming a customer's e-mail is encoded
    [encoded] = await c.encode([plain(SECRET)])
    # then neither the value nor its original metadata is readable, the key is named, and decoding gives it back
    assert SECRET.encode() not in encoded.SerializeToString()
    assert b"json/plain" not in encoded.SerializeToString()
    assert encoded.metadata[KEY_ID] == b"k1"
    assert await c.decode([encoded]) == [plain(SECRET)]


async def test_encoding_the_same_value_twice_gives_different_ciphertexts() -> None:
    c = codec(key_spec("k1"))
    [first, second] = await c.encode([plain(SECRET), plain(SECRET)])
    assert first.data != second.data


async def test_after_rotation_the_new_key_encrypts_and_the_old_key_still_decrypts() -> None:
    # given a payload encrypted before the rotation
    old = key_spec("2024")
    [before] = await codec(old).encode([plain(SECRET)])
    # when a new key is put first
    rotated = codec(f"{key_spec('2025')},{old}")
    [after] = await rotated.encode([plain(SECRET)])
    # then new payloads name the new key, and both old and new payloads decode
    assert after.metadata[KEY_ID] == b"2025"
    assert await rotated.decode([before, after]) == [plain(SECRET), plain(SECRET)]


async def test_a_payload_under_a_key_not_held_is_refused_naming_the_key() -> None:
    [encoded] = await codec(key_spec("retired")).encode([plain(SECRET)])
    with pytest.raises(CodecError, match=r"'retired'.*does not hold"):
        await codec(key_spec("current")).decode([encoded])


async def test_a_tampered_ciphertext_is_refused() -> None:
    c = codec(key_spec("k1"))
    [encoded] = await c.encode([plain(SECRET)])
    flipped = bytearray(encoded.data)
    flipped[-1] ^= 0x01
    tampered = Payload(metadata=dict(encoded.metadata), data=bytes(flipped))
    with pytest.raises(CodecError, match="altered"):
        await c.decode([tampered])


async def test_a_payload_relabelled_with_another_key_id_is_refused() -> None:
    # given two keys with the same bytes under different ids (a label is bound to the ciphertext)
    material = base64.b64encode(os.urandom(32)).decode()
    c = codec(f"a:{material},b:{material}")
    [encoded] = await c.encode([plain(SECRET)])
    relabelled = Payload(metadata={**encoded.metadata, KEY_ID: b"b"}, data=encoded.data)
    with pytest.raises(CodecError, match="altered"):
        await c.decode([relabelled])


async def test_a_payload_written_before_the_codec_passes_through() -> None:
    c = codec(key_spec("k1"))
    assert await c.decode([plain("saved before the codec")]) == [plain("saved before the codec")]


@pytest.mark.parametrize("env", ["production", "staging", "prod"])
def test_production_refuses_the_development_key(env: str) -> None:
    with pytest.raises(CodecError, match="development codec key"):
        parse_codec_keys(None, env)
    with pytest.raises(CodecError, match="development codec key"):
        parse_codec_keys(DEV_CODEC_KEYS, env)
    dev_material = DEV_CODEC_KEYS.partition(":")[2]
    with pytest.raises(CodecError, match="development codec key"):
        parse_codec_keys(f"renamed:{dev_material}", env)


@pytest.mark.parametrize("env", ["development", "test"])
def test_development_and_test_run_on_the_development_key(env: str) -> None:
    assert parse_codec_keys(None, env).current == "dev"


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("", "names no key"),
        ("k1", "is not `<key id>"),
        ("k1:not base64!", "not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "5 bytes"),
        (f"{key_spec('k1')},{key_spec('k1')}", "twice"),
    ],
)
def test_keys_that_do_not_parse_are_refused_without_echoing_key_material(spec: str, complaint: str) -> None:
    with pytest.raises(CodecError, match=complaint) as refused:
        parse_codec_keys(spec, "production")
    material = [part.partition(":")[2] for part in spec.split(",") if part.partition(":")[2]]
    assert not any(m in str(refused.value) for m in material)


async def test_the_data_converter_encrypts_an_order_and_its_failures() -> None:
    # given the clients' data converter and an order with personal data
    converter = data_converter(key_spec("k1"), "production")
    order = place_order("W-CODEC", customer={"id": "C-9", "email": SECRET, "name": "Hanako Codec"})
    # when the order and a failure quoting the e-mail are encoded
    [payload] = await converter.encode([order])
    failure = Failure()
    await converter.encode_failure(ApplicationError(f"bounced: {SECRET}"), failure)
    # then neither carries it in clear, and both decode to what they were
    assert SECRET.encode() not in payload.SerializeToString()
    assert SECRET.encode() not in failure.SerializeToString()
    [decoded] = await converter.decode([payload], [PlaceOrder])
    assert decoded == order
    assert SECRET in str(await converter.decode_failure(failure))
