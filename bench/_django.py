"""Shared by the bench scripts: run Django on a SQLite file of the bench's own."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def use_sqlite(path: Path) -> None:
    """Point the app at the SQLite file `path` (DEBUG settings) and set Django up."""
    os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ.setdefault("DEBUG", "1")
    os.environ["DJANGO_SETTINGS_MODULE"] = "humaneval_site.settings"
    import django

    django.setup()
