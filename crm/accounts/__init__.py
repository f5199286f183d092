"""Staff accounts that resist attack (docs/privacy.md, "Accounts"): sign-in lock-outs (django-axes),
two-factor sign-in (django-otp), session timeouts, signing a user out everywhere, and the audit entries
for each. The admin's pages for it live in admin.py and views.py; config/urls.py mounts the views."""
