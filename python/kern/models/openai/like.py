"""Any server speaking OpenAI's Chat Completions API (vLLM, LM Studio, llama.cpp, …)."""

from __future__ import annotations

from typing import Any, Dict, Optional

from kern.models.base import Model


class OpenAILike(Model):
    """``OpenAILike(id="llama3", base_url="http://localhost:8000/v1", api_key=...)``; the key
    is optional (``OPENAI_API_KEY`` is used when set)."""

    provider_key = "openai-like"
    provider = "OpenAI-like"
    base_url_env = ("OPENAI_BASE_URL",)
    default_id = "not-provided"

    def __init__(self, id: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(id, **kwargs)

    def _spec(self) -> Dict[str, Any]:
        spec = super()._spec()
        key = self.api_key or self._resolve(("OPENAI_API_KEY",))
        if key:
            spec["api_key"] = key
        return spec
