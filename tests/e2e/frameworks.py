"""What the framework tests share: a schema and a tool as an application writes them, and
LangChain's ChatOpenAI pointed at a test server (imported when called: a slow import)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from tests.e2e.server import Org, Server


class Person(BaseModel):
    """A person mentioned in the text."""

    name: str
    age: int


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def chat_openai(server: Server, org: Org, model: str, **options: Any) -> Any:
    """LangChain's ChatOpenAI as ``org``'s member, no retries, with ``options`` as given."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=model,
        base_url=f"{server.base_url}/v1",
        api_key=org.member_key,
        max_retries=0,
        **options,
    )
