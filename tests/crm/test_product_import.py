"""The products file: the shop's catalogue and the flags recommendations obey."""

import csv
from decimal import Decimal

import pytest

from crm.models import Product

pytestmark = pytest.mark.django_db

PRODUCTS = """sku,name,category,price,in_stock,never_recommend,restock_days
P1,Notebook,Stationery,"1 200,50",yes,no,
P2,Gift card,Gifts,1000,1,да,
P3,Coffee beans,Coffee,650,нет,0,30
P4,Pen,,,,,
"""


def _row(sku):
    return Product.objects.values("name", "category", "price", "in_stock", "excluded", "restock_days").get(sku=sku)


def test_it_imports_products_with_their_flags_then_changes_nothing_on_the_same_file(write_csv, run_command):
    path = write_csv("products.csv", PRODUCTS)
    ok, out, _ = run_command("import_products", str(path))
    assert ok and "read 4, created 4, updated 0, unchanged 0, rejected 0" in out
    assert _row("P1") == {"name": "Notebook", "category": "Stationery", "price": Decimal("1200.50"),
                          "in_stock": True, "excluded": False, "restock_days": None}
    assert _row("P2")["excluded"] and _row("P2")["in_stock"]
    assert _row("P3") | {} == {"name": "Coffee beans", "category": "Coffee", "price": Decimal("650"),
                               "in_stock": False, "excluded": False, "restock_days": 30}
    # Empty cells say nothing: a product stays in stock and recommendable.
    assert _row("P4") == {"name": "Pen", "category": "", "price": None, "in_stock": True, "excluded": False,
                          "restock_days": None}

    ok, out, _ = run_command("import_products", str(path))
    assert ok and "read 4, created 0, updated 0, unchanged 4, rejected 0" in out
    assert Product.objects.count() == 4


def test_a_file_of_skus_and_stock_changes_only_the_stock(write_csv, run_command):
    run_command("import_products", str(write_csv("products.csv", PRODUCTS)))
    ok, out, _ = run_command("import_products", str(write_csv("stock.csv", "sku,in_stock\nP1,no\nP3,true\n")))
    assert ok and "read 2, created 0, updated 2, unchanged 0" in out
    assert not _row("P1")["in_stock"] and _row("P1")["name"] == "Notebook"
    assert _row("P3")["in_stock"] and _row("P3")["restock_days"] == 30


def test_bad_flags_and_restock_days_are_named_by_file_line_and_column_and_nothing_is_imported(
        write_csv, run_command):
    path = write_csv("products.csv", "sku,in_stock,never_recommend,restock_days\n"
                                     "P1,yes,no,30\n"
                                     "P2,maybe,no,\n"
                                     "P3,yes,sometimes,0\n"
                                     "P4,yes,no,two weeks\n"
                                     ",yes,no,\n"
                                     "P1,no,no,\n")
    ok, out, err = run_command("import_products", str(path))
    assert not ok
    assert f"{path}:3: in_stock: 'maybe' is not yes/no" in err
    assert f"{path}:4: never_recommend: 'sometimes' is not yes/no" in err
    assert f"{path}:4: restock_days: '0' is not between 1 and 3650" in err
    assert f"{path}:5: restock_days: 'two weeks' is not a whole number" in err
    assert f"{path}:6: sku: required, but empty" in err
    assert f"{path}:7: sku: duplicate of line 2" in err
    assert not Product.objects.exists()


def test_with_skip_invalid_the_good_products_go_in_and_the_rejected_rows_are_kept(write_csv, run_command):
    path = write_csv("products.csv", "sku,name,in_stock\nP1,Notebook,yes\nP2,Pen,perhaps\n")
    ok, out, _ = run_command("import_products", str(path), "--skip-invalid")
    assert ok and "read 2, created 1, updated 0, unchanged 0, rejected 1" in out
    with open(path.parent / "products.rejected.csv", encoding="utf-8", newline="") as f:
        rejected = list(csv.reader(f))
    assert rejected[0] == ["sku", "name", "in_stock", "error"]
    assert rejected[1][:3] == ["P2", "Pen", "perhaps"] and rejected[1][3].startswith("in_stock: 'perhaps' is not")
    assert list(Product.objects.values_list("sku", flat=True)) == ["P1"]


def test_products_can_be_uploaded_in_the_admin(admin_client, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("catalogue.csv", PRODUCTS.encode())
    response = admin_client.post("/admin/crm/importrun/upload/", {"kind": "products", "file": upload})
    assert response.status_code == 200
    assert Product.objects.count() == 4
    assert b"never_recommend" in response.content  # the page lists the kind's columns
