"""Public pages of email campaigns (no login): included from config/urls.py."""

from django.urls import path

from .unsubscribe import unsubscribe_view

urlpatterns = [
    path("u/<str:token>/", unsubscribe_view, name="campaigns-unsubscribe"),
]
