"""The docs name what the code does."""

import fnmatch
import re
from pathlib import Path

import pytest
from django.conf import settings

from channels.adaptors import registry


def test_translation_table_covers_every_vendor():
    table = (Path(settings.BASE_DIR) / "docs" / "translation.md").read_text()
    for adaptor in registry.all_adaptors():
        assert f"| `{adaptor.vendor}` |" in table, adaptor.vendor


def test_readme_names_every_vendor_and_both_commands():
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    for vendor in registry.VENDOR_MODULES:
        assert f"`{vendor}`" in readme, vendor
    assert "./bin/start --demo" in readme and "./bin/test" in readme


# An id as the table writes it: letters, digits, ".", "_", "-", and "*" in a family pattern.
TABLE_ID = re.compile(r"[A-Za-z0-9._*-]+")


def vendor_rows(table, vendor):
    """The rows of ``vendor``'s section of docs/translation.md: the lines whose first cell is `vendor`."""
    return [line for line in table.splitlines() if line.startswith(f"| `{vendor}` |")]


def documented(model, rows):
    """A model "has a row" when one of its vendor's rows names it: the id itself as a whole word
    (``sora-2`` does not cover ``sora-2-pro``), or a family pattern with ``*`` that matches it
    (``viduq3*``, ``grok-imagine-video*``), as fnmatch reads it."""
    words = {word.rstrip(".") for row in rows for word in TABLE_ID.findall(row)}
    return model in words or any(fnmatch.fnmatchcase(model, word) for word in words if "*" in word)


@pytest.mark.parametrize("vendor", sorted(registry.VENDOR_MODULES))
def test_translation_table_has_a_row_for_every_known_model(vendor):
    table = (Path(settings.BASE_DIR) / "docs" / "translation.md").read_text()
    rows = vendor_rows(table, vendor)
    missing = [model for model in registry.get(vendor).known_models if not documented(model, rows)]
    assert not missing, f"docs/translation.md names none of {missing} in the `{vendor}` rows"


def test_a_documented_model_is_a_whole_id_or_a_family_pattern():
    rows = ["| `x` | model | `model` | `sora-2`, `viduq3*`; snapshots like `a-1-2025`. |"]
    assert documented("sora-2", rows) and documented("viduq3-pro", rows) and documented("a-1-2025", rows)
    assert not documented("sora-2-pro", rows) and not documented("viduq2", rows)
