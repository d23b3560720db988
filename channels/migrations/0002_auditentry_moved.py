# AuditEntry now lives in accounts (accounts/migrations/0004_auditentry.py renamed its table).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("channels", "0001_initial"),
        ("accounts", "0004_auditentry"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="AuditEntry")]),
    ]
