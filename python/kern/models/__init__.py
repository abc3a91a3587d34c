"""Model providers: :mod:`kern.models.openai` (``OpenAIChat``, ``OpenAIResponses``,
``OpenAILike``), :mod:`kern.models.anthropic` (``Claude``), :mod:`kern.models.google`
(``Gemini``), :mod:`kern.models.ollama` (``Ollama``)."""

from kern.models.base import Model

__all__ = ["Model"]
