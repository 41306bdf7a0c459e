"""Svensk RAG-assistent med källhänvisningar."""
