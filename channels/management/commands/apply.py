import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from channels.apply import ApplyError, apply_config


class Command(BaseCommand):
    help = "Create or update tenants, users, channels, prices and webhooks from a JSON file (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path to the JSON file")

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            config = json.loads(path.read_text())
        except FileNotFoundError:
            raise CommandError(f"{path} does not exist") from None
        except ValueError as exc:
            raise CommandError(f"{path} is not valid JSON: {exc}") from None
        try:
            report = apply_config(config)
        except ApplyError as exc:
            raise CommandError(str(exc)) from None
        for line in report:
            self.stdout.write(line)
