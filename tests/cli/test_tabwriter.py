"""Table layout with Go's elastic tabstops (minwidth 10, padding 3), as Docker lays out."""

from __future__ import annotations

from ketch.cli.tabwriter import tabwrite, text_width


def test_columns_take_the_widest_cell_plus_padding() -> None:
    text = "REPOSITORY\tTAG\tSIZE\nbusybox\tlatest\t1.98MB\nlocalhost:5000/x\tv1\t9B\n"
    assert tabwrite(text) == (
        "REPOSITORY         TAG       SIZE\n"
        "busybox            latest    1.98MB\n"
        "localhost:5000/x   v1        9B\n"
    )


def test_minimum_width_and_trailing_cells() -> None:
    # The last cell of a line is not part of a column: it is never padded.
    assert tabwrite("A\tB\nlonger text here\tx\n") == "A                  B\nlonger text here   x\n"
    assert tabwrite("a\tb\n") == "a         b\n"


def test_empty_cells_are_padded() -> None:
    assert tabwrite("ID\tCREATED BY\tSIZE\nabc\t\t1B\n") == (
        "ID        CREATED BY   SIZE\nabc                    1B\n")


def test_blocks_are_sized_separately() -> None:
    # A line without tabs ends a column block: the blocks above and below it are
    # aligned independently, as in Go (docker system df -v relies on this).
    text = "a\tb\nlonger-cell\tc\nsection\nx\ty\n"
    assert tabwrite(text) == "a             b\nlonger-cell   c\nsection\nx         y\n"


def test_custom_settings_used_by_version() -> None:
    assert tabwrite(" Version:\t1.0\n API version:\t1.41\n", minwidth=20, padding=1) == (
        " Version:           1.0\n API version:       1.41\n")


def test_wide_characters_count_double() -> None:
    assert text_width("日本") == 4
    assert tabwrite("日本\tx\nab\ty\n") == "日本      x\nab        y\n"


def test_no_trailing_newline_is_kept() -> None:
    assert tabwrite("a\tb") == "a         b"
