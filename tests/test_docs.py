"""The docs name what the code does."""

from pathlib import Path

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
