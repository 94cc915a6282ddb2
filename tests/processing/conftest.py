from __future__ import annotations

import sys
from pathlib import Path

import pytest

# tests/ goes on sys.path for videogen, and there `processing` would name this folder: put the
# repository first so it names the package under test.
_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(_ROOT / "tests"))
sys.path.insert(0, str(_ROOT))
if "processing" in sys.modules and getattr(sys.modules["processing"], "__file__", None) is None:
    del sys.modules["processing"]

from videogen import Truth, standard_clip  # noqa: E402


@pytest.fixture(scope="session")
def std_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth]:
    path = tmp_path_factory.mktemp("clips") / "standard.mp4"
    return path, standard_clip(path)
