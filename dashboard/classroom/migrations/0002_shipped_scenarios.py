"""Install the shipped scenarios, so a fresh ``make run`` offers them at once."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def install(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    from dashboard.classroom.loader import scenarios_install

    scenarios_install(model=apps.get_model("classroom", "Scenario"), replace=False)


class Migration(migrations.Migration):
    dependencies = [("classroom", "0001_initial")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
