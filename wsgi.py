"""The WSGI entry point: `gunicorn wsgi:app`."""

from exastro_mail import create_app

app = create_app()
