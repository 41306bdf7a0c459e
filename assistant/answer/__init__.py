"""Answering: the chain and the :class:`Assistant` that runs it."""

from assistant.answer.chain import Assistant, build_chain

__all__ = ["Assistant", "build_chain"]
