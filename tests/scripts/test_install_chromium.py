"""scripts/install-chromium.sh on every branch, without installing anything: the script runs
with a sandboxed PATH where ``apt-get`` and ``id`` are stubs that record what they were asked
(a machine that has chromium would otherwise never run the install branch)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install-chromium.sh"
BASH = "/bin/bash"


@dataclass
class Sandbox:
    bin: Path
    calls: Path

    def stub(self, name: str, body: str) -> None:
        path = self.bin / name
        path.write_text(f"#!{BASH}\n{body}\n", encoding="utf-8")
        path.chmod(0o755)

    def run(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run([BASH, str(SCRIPT)], env={"PATH": str(self.bin)},
                              capture_output=True, text=True, timeout=30, check=False)

    def apt_calls(self) -> list[str]:
        return self.calls.read_text("utf-8").splitlines() if self.calls.exists() else []


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    box = Sandbox(tmp_path / "bin", tmp_path / "apt-get.calls")
    box.bin.mkdir()
    # apt-get records its arguments; "install" puts a chromium on PATH, as the package does
    box.stub("apt-get", f'echo "$DEBIAN_FRONTEND $*" >> {box.calls}\n'
                        f'if [ "$1" = install ]; then printf "#!{BASH}\\n" > {box.bin}/chromium; '
                        f"/bin/chmod +x {box.bin}/chromium; fi")
    box.stub("id", 'echo "${FAKE_UID:-0}"')
    return box


def test_installs_chromium_when_missing(sandbox: Sandbox) -> None:
    result = sandbox.run()
    assert result.returncode == 0, result.stderr
    assert sandbox.apt_calls() == [
        "noninteractive update -q",
        "noninteractive install -y -q --no-install-recommends chromium fonts-dejavu-core",
    ]
    assert (sandbox.bin / "chromium").exists()


def test_does_nothing_when_chromium_is_there(sandbox: Sandbox) -> None:
    sandbox.stub("chromium", "exit 0")
    result = sandbox.run()
    assert result.returncode == 0 and sandbox.apt_calls() == []


def test_without_root_it_says_what_to_run(sandbox: Sandbox) -> None:
    sandbox.stub("id", "echo 1000")
    result = sandbox.run()
    assert result.returncode == 1 and sandbox.apt_calls() == []
    assert result.stderr.startswith("chromium saknas: kör 'sudo apt-get install -y chromium'")


def test_a_failed_install_fails_the_script(sandbox: Sandbox) -> None:
    sandbox.stub("apt-get", f'echo "$*" >> {sandbox.calls}; [ "$1" != install ]')
    result = sandbox.run()
    assert result.returncode != 0 and len(sandbox.apt_calls()) == 2


def test_an_install_that_leaves_no_chromium_is_reported(sandbox: Sandbox) -> None:
    sandbox.stub("apt-get", f'echo "$*" >> {sandbox.calls}')
    result = sandbox.run()
    assert result.returncode == 1 and "finns inte på PATH" in result.stderr
