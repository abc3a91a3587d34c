"""Ollama, local models."""

from __future__ import annotations

from typing import Any, Optional

from kern.models.base import Model


class Ollama(Model):
    """``Ollama(id="llama3.1")``: the server at ``host`` (default ``OLLAMA_HOST``, else
    ``http://localhost:11434``); no key needed (``OLLAMA_API_KEY`` for hosted Ollama)."""

    provider_key = "ollama"
    provider = "Ollama"
    base_url_env = ("OLLAMA_HOST",)
    default_id = "llama3.1"

    def __init__(self, id: Optional[str] = None, host: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(id, base_url=host or kwargs.pop("base_url", None), **kwargs)

    def _spec(self):
        spec = super()._spec()
        key = self.api_key or self._resolve(("OLLAMA_API_KEY",))
        if key:
            spec["api_key"] = key
        return spec
