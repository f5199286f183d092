import contextlib
import csv
import datetime as dt
import io

import pytest

from audiences.exports import PLATFORMS, ClientRow, ExportCounts, get_platform, write_audience
from audiences.exports.normalize import sha256_hex


def clients(count, start=0):
    for i in range(start, start + count):
        yield ClientRow(external_id=f"C{i}", email=f"user.{i}@example.ru", phone=f"+7912{i:07d}",
                        first_name="Мария", last_name="Иванова", city="Санкт-Петербург", country="RU",
                        zip="190000", birth_date=dt.date(1991, 2, 3), gender="f")


def export(tmp_path, platform, rows):
    """Write through real files, as the workflow will, and give back each file's bytes."""
    with contextlib.ExitStack() as files:
        def open_file(key):
            return files.enter_context(open(tmp_path / f"{key}.csv", "w", encoding="utf-8", newline=""))

        counts = write_audience(platform, rows, open_file)
    return counts, {key: (tmp_path / f"{key}.csv").read_bytes() for key in platform.files}


@pytest.mark.parametrize("slug", list(PLATFORMS))
def test_it_writes_a_header_even_with_no_clients(tmp_path, slug):
    platform = get_platform(slug)
    counts, files = export(tmp_path, platform, iter(()))
    assert files == {key: (",".join(header) + "\n").encode() for key, header in platform.files.items()}
    assert counts == ExportCounts(total=0, rows=dict.fromkeys(platform.files, 0), skipped=0, below_minimum=True)


@pytest.mark.parametrize("slug", list(PLATFORMS))
def test_it_writes_utf8_without_bom_and_with_newline_line_ends(tmp_path, slug):
    platform = get_platform(slug)
    counts, files = export(tmp_path, platform, clients(3))
    for content in files.values():
        assert not content.startswith(b"\xef\xbb\xbf")
        assert b"\r" not in content
        assert content.endswith(b"\n") and content.count(b"\n") == 4
        content.decode("utf-8")
    assert counts.total == counts.exported == 3 and counts.skipped == 0


def test_it_counts_the_clients_it_skips(tmp_path):
    nobody = ClientRow(external_id="X1", first_name="Анна", email="nope", phone="123")
    rows = [*clients(2), nobody, *clients(1, start=2), nobody._replace(external_id="X2")]
    counts, files = export(tmp_path, get_platform("tiktok"), iter(rows))
    assert counts == ExportCounts(total=5, rows={"audience": 3}, skipped=2, below_minimum=True)
    assert counts.exported == 3
    assert files["audience"].count(b"\n") == 1 + 3


def test_vk_writes_emails_and_phones_to_two_files(tmp_path):
    rows = [*clients(2), ClientRow(external_id="E", email="only@mail.ru"), ClientRow(external_id="P", phone="+79990001122")]
    counts, files = export(tmp_path, get_platform("vk"), iter(rows))
    assert files["emails"].decode().splitlines() == ["id", "user.0@example.ru", "user.1@example.ru", "only@mail.ru"]
    assert files["phones"].decode().splitlines() == ["id", "79120000000", "79120000001", "79990001122"]
    assert counts.rows == {"emails": 3, "phones": 3} and counts.total == 4 and counts.skipped == 0


@pytest.mark.parametrize("slug", list(PLATFORMS))
def test_it_flags_an_audience_below_the_platform_minimum_and_writes_it_anyway(slug):
    platform = get_platform(slug)
    small = write_audience(platform, clients(platform.min_audience - 1), lambda key: io.StringIO())
    assert small.below_minimum and small.exported == platform.min_audience - 1
    enough = write_audience(platform, clients(platform.min_audience), lambda key: io.StringIO())
    assert not enough.below_minimum


def test_vk_flags_a_list_that_is_too_small_on_its_own():
    emails_only = (row._replace(phone="") for row in clients(2000))
    counts = write_audience(get_platform("vk"), emails_only, lambda key: io.StringIO())
    assert counts.rows == {"emails": 2000, "phones": 0} and counts.below_minimum


def test_cyrillic_survives_into_the_file(tmp_path):
    rows = [ClientRow(external_id="Клиент-1", email="Иван@Почта.рф", phone="+79123456789", first_name="Иван")]
    _, vk = export(tmp_path, get_platform("vk"), iter(rows))
    assert vk["emails"].decode("utf-8") == "id\nиван@почта.рф\n"
    _, meta = export(tmp_path, get_platform("meta"), iter(rows))
    row = meta["audience"].decode("utf-8").splitlines()[1].split(",")
    assert row[2] == sha256_hex("иван") and row[-1] == "Клиент-1"


def test_it_quotes_plain_cells_exactly_as_the_csv_module_would(tmp_path):
    awkward = [ClientRow(external_id='id,with "quotes"', email="a@b.ru"),
               ClientRow(external_id="line\nbreak", email="c@d.ru"),
               ClientRow(external_id="plain", email="e@f.ru")]
    _, files = export(tmp_path, get_platform("yandex"), iter(awkward))
    expected = io.StringIO()
    writer = csv.writer(expected, lineterminator="\n")
    writer.writerow(get_platform("yandex").files["audience"])
    writer.writerows(get_platform("yandex").rows(client)["audience"] for client in awkward)
    assert files["audience"].decode() == expected.getvalue()
    assert [row[0] for row in csv.reader(io.StringIO(files["audience"].decode()))][1:] == [
        'id,with "quotes"', "line\nbreak", "plain"]


def test_it_streams_clients_through_batch_by_batch_instead_of_collecting_them():
    stream = io.StringIO()
    seen_before_the_fifth = []

    def one_by_one():
        yield from clients(4)
        seen_before_the_fifth.append(stream.getvalue().count("\n"))
        yield from clients(1, start=4)

    counts = write_audience(get_platform("tiktok"), one_by_one(), lambda key: stream, batch_size=2)
    assert seen_before_the_fifth == [5]  # header and two batches of two written before the fifth is read
    assert counts.total == 5 and stream.getvalue().count("\n") == 6


def test_csv_lines_are_the_csv_modules_lines(speedups):
    from audiences.exports.base import csv_line, csv_lines

    cells = ["", "plain", "a,b", 'q"uote', "line\nbreak", "cr\rhere", "Клиент", "tab\there", "x" * 700, " "]
    for width in (1, 2, 3):
        columns = [[cells[(row + column) % len(cells)] for row in range(40)] for column in range(width)]
        assert csv_lines(*columns) == [csv_line(row) for row in zip(*columns)]
    with pytest.raises(ValueError):
        csv_lines(["a", "b"], ["c"])
