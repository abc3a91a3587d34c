"""Testing helpers for Kern: :mod:`kern.testing.fake_openai`, a local fake OpenAI server that
speaks the real Chat Completions and Responses wire protocols, for tests and demos without an
API key."""
