"""Researchers made before `create_researcher` granted them get what it grants now: viewing and
deleting API tokens in the admin (which shows each researcher only its own)."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

CODENAMES = ("view_apitoken", "delete_apitoken")


def forwards(apps, schema_editor):
    # Permissions are made after migrations (post_migrate); a database migrating now needs them first.
    create_permissions(global_apps.get_app_config("juice"), apps=apps, verbosity=0)
    Permission = apps.get_model("auth", "Permission")
    User = apps.get_model("auth", "User")
    granted = list(Permission.objects.filter(content_type__app_label="juice", codename__in=CODENAMES))
    for user in User.objects.filter(is_staff=True, is_superuser=False):
        user.user_permissions.add(*granted)


class Migration(migrations.Migration):
    dependencies = [
        ("juice", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
