from crm.management.import_command import ImportCommand


class Command(ImportCommand):
    kind = "products"
