import argparse

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Tenant
from accounts.services import issue_key


def positive(value):
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


class Command(BaseCommand):
    help = "Issue an sk- key for a tenant and print it (alone) on stdout. It is not shown again."

    def add_arguments(self, parser):
        parser.add_argument("tenant")
        parser.add_argument("--name", default="default")
        parser.add_argument("--models", default="", help="Comma-separated model allowlist (default: all)")
        parser.add_argument("--ips", default="", help="Comma-separated IP/CIDR allowlist (default: any)")
        parser.add_argument("--spend-limit", type=int, default=None, help="Cap in units (1,000,000 = 1 USD)")
        parser.add_argument("--rpm", type=positive, default=None, help="Creates per minute (default: unlimited)")
        parser.add_argument(
            "--max-in-flight",
            type=positive,
            default=None,
            help="Tasks queued or in progress at once (default: unlimited)",
        )

    def handle(self, *args, **options):
        tenant = Tenant.objects.filter(name=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant named {options['tenant']!r}")
        _, plaintext = issue_key(
            tenant,
            name=options["name"],
            allowed_models=[m.strip() for m in options["models"].split(",") if m.strip()],
            allowed_ips=[ip.strip() for ip in options["ips"].split(",") if ip.strip()],
            spend_limit=options["spend_limit"],
            rpm_limit=options["rpm"],
            max_in_flight=options["max_in_flight"],
        )
        self.stdout.write(plaintext)
