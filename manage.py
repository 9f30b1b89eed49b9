#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "juice.settings")
    from django.core.exceptions import ImproperlyConfigured

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - load settings now so a bad value stops the start here
    except ImproperlyConfigured as exc:
        sys.exit(f"juice: configuration error: {exc}")

    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
