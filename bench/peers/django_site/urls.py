"""Django's own auth views: /accounts/login/, /accounts/password_reset/ and the rest."""

from django.urls import include, path

urlpatterns = [path("accounts/", include("django.contrib.auth.urls"))]
