from django.core.management.base import BaseCommand, CommandError

from accounts.models import Tenant
from accounts.services import format_units, topup


class Command(BaseCommand):
    help = "Credit a tenant's balance (units: 1,000,000 = 1 USD), recorded in the ledger."

    def add_arguments(self, parser):
        parser.add_argument("tenant")
        parser.add_argument("amount", type=int)
        parser.add_argument("--note", default="")

    def handle(self, *args, **options):
        tenant = Tenant.objects.filter(name=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant named {options['tenant']!r}")
        if options["amount"] <= 0:
            raise CommandError("The amount must be a positive number of units")
        entry = topup(tenant, options["amount"], note=options["note"])
        self.stdout.write(f"{tenant.name}: balance {entry.balance_after} ({format_units(entry.balance_after)})")
