"""Ollama models."""

from kern.models.ollama.chat import Ollama

__all__ = ["Ollama"]
