"""The base of kern's model classes: a provider, a model id, credentials.

A model object only describes the model; the requests are made by kern's Rust providers
(streaming, retries with ``Retry-After``, timeouts). Credentials come from the arguments or
the provider's environment variables, read when the agent or team using the model is first
run. A missing API key is not an error here: the run that uses the model fails with a message
naming the variable to set, as in Agno.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional


class Model:
    """A chat model behind a provider. Subclasses set the provider and its variables."""

    #: kern's provider name (``openai``, ``openai-responses``, ``anthropic``, ``gemini``, ``ollama``, ``openai-like``).
    provider_key: str = ""
    #: The provider's display name, as Agno reports it.
    provider: str = ""
    #: Environment variables holding the API key, first match wins (empty: no key needed).
    api_key_env: tuple = ()
    #: Environment variables holding the base URL.
    base_url_env: tuple = ()
    #: The model id used when none is given.
    default_id: str = ""

    def __init__(
        self,
        id: Optional[str] = None,
        *,
        name: Optional[str] = None,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        **options: Any,
    ) -> None:
        self.id = id or self.default_id
        self.name = name or type(self).__name__
        self.api_key = api_key
        self.base_url = str(base_url) if base_url is not None else None
        #: Other Agno options (temperature, max_tokens, …): kept; not all are sent yet.
        self.options = options

    def _resolve(self, names: tuple) -> Optional[str]:
        for n in names:
            value = os.environ.get(n)
            if value:
                return value
        return None

    def _spec(self) -> Dict[str, Any]:
        """The definition kern's engine builds the model from."""
        spec: Dict[str, Any] = {"provider": self.provider_key, "id": self.id}
        key = self.api_key or self._resolve(self.api_key_env)
        if key:
            spec["api_key"] = key
        elif self.api_key_env:
            spec["missing_key"] = " or ".join(self.api_key_env)
        base = self.base_url or self._resolve(self.base_url_env)
        if base:
            spec["base_url"] = base
        return spec

    def to_dict(self) -> Dict[str, Any]:
        return {"id": self.id, "name": self.name, "provider": self.provider}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r})"
