from audiences.exports.base import csv_line
from audiences.exports.held import pack, unpack


def test_plain_lines_are_kept_as_written_with_the_line_break_between_them():
    lines = ["a1,b1\n", "a2,b2\n"]
    client_ids, body, separator = pack([7, 12], lines, "".join(lines))
    assert (client_ids, body, separator) == ("7,12", "a1,b1\na2,b2", "\n")
    assert unpack(client_ids, body, separator) == [(7, "a1,b1"), (12, "a2,b2")]


def test_a_line_break_inside_a_quoted_cell_gets_a_separator_no_line_holds():
    # The first private-use character is in a line already: the next one separates.
    lines = [csv_line(("multi\nline", "x")), "\ue000,tab\there\\\n", csv_line(('"quoted"', "\r"))]
    client_ids, body, separator = pack([1, 2, 3], lines)
    assert separator == "\ue001" and body.count(separator) == 2
    assert unpack(client_ids, body, separator) == [(1, '"multi\nline",x'), (2, "\ue000,tab\there\\"),
                                                   (3, '"""quoted""",\r')]



def test_a_line_removed_from_the_platform_keeps_its_place_without_a_client():
    assert unpack("7,,12", "a1\na2\na3", "\n") == [(7, "a1"), (12, "a3")]
