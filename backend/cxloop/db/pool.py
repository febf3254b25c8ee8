"""The asyncpg pool: one per process, with JSON codecs registered once per connection."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg
import msgspec

__all__ = ["Connection", "Pool", "create_pool", "register_json_codecs"]

# Type aliases only (strings, so nothing is subscripted at run time): a plain connection or one
# borrowed from a pool; the code in cxloop accepts either.
Connection: TypeAlias = (
    "asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"
)
Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

# jsonb's binary wire format is a version byte (1) followed by the JSON text; json's is the text.
_JSONB_VERSION = b"\x01"


def _encode_jsonb(value: Any) -> bytes:
    return _JSONB_VERSION + _encode(value)


def _decode_jsonb(data: bytes) -> Any:
    return _decode(memoryview(data)[1:])


async def register_json_codecs(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Make json/jsonb values arrive as Python objects (and go out from them) via msgspec."""
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=_encode_jsonb, decoder=_decode_jsonb, format="binary"
    )
    await conn.set_type_codec(
        "json", schema="pg_catalog", encoder=_encode, decoder=_decode, format="binary"
    )


async def create_pool(url: str, **kwargs: Any) -> Pool:
    """An asyncpg pool for ``url``; ``kwargs`` go to :func:`asyncpg.create_pool`.

    An ``init`` callback given in ``kwargs`` still runs, after the codecs are registered.
    """
    extra_init = kwargs.pop("init", None)

    async def init(conn: asyncpg.Connection[asyncpg.Record]) -> None:
        await register_json_codecs(conn)
        if extra_init is not None:
            await extra_init(conn)

    pool: Pool = await asyncpg.create_pool(url, init=init, **kwargs)
    return pool
