"""Temporal clients always speak pydantic, so domain models cross the wire as they are, and encrypt every payload
(starter/codec.py), so no personal data reaches Temporal in clear."""

from temporalio.client import Client
from temporalio.converter import DataConverter

from starter.codec import data_converter
from starter.settings import Settings, get_settings


def oms_data_converter(settings: Settings | None = None) -> DataConverter:
    s = settings or get_settings()
    return data_converter(s.codec_keys, s.env)


async def connect(address: str, namespace: str = "default", settings: Settings | None = None) -> Client:
    return await Client.connect(address, namespace=namespace, data_converter=oms_data_converter(settings))
