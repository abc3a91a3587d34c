"""OpenAI models: Chat Completions, Responses, and OpenAI-compatible servers."""

from kern.models.openai.chat import OpenAIChat
from kern.models.openai.like import OpenAILike
from kern.models.openai.responses import OpenAIResponses

__all__ = ["OpenAIChat", "OpenAILike", "OpenAIResponses"]
