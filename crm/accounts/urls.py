from django.urls import path

from . import views

# Mounted under admin/ by config/urls.py, before the admin's own URLs.
urlpatterns = [
    path("two-factor/", views.enrol, name="accounts-enrol"),
    path("two-factor/verify/", views.verify, name="accounts-verify"),
]
