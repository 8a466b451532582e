"""The StorageDriver contract as one reusable check; every driver runs it.

A new driver (an object store) gets its test by calling
``check_driver(make_driver())`` with an empty store.
"""

from __future__ import annotations

import pytest

from ketch.registry.driver import PathNotFound, StorageDriver


def check_driver(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFound):
        driver.get_content("a/b")
    with pytest.raises(PathNotFound):
        driver.stat("a/b")
    with pytest.raises(PathNotFound):
        driver.reader("a/b")
    driver.put_content("a/b", b"one")
    driver.put_content("a/b", b"two")  # replace
    assert driver.get_content("a/b") == b"two"
    assert driver.stat("a/b").size == 3
    assert driver.list("a") == ["b"]
    assert driver.list("missing") == []
    with driver.append("up/data") as f:
        f.write(b"12")
    with driver.append("up/data") as f:  # appending continues where it stopped
        f.write(b"34")
    with driver.reader("up/data", 1) as f:
        assert f.read() == b"234"
    driver.put_content("final/data", b"old")
    driver.move("up/data", "final/data")  # move replaces
    assert driver.get_content("final/data") == b"1234"
    with pytest.raises(PathNotFound):
        driver.stat("up/data")
    with pytest.raises(PathNotFound):
        driver.move("up/data", "elsewhere")
    driver.delete("final")  # a whole tree
    driver.delete("final")  # absent is not an error
    with pytest.raises(PathNotFound):
        driver.get_content("final/data")
    assert driver.list("") == ["a", "up"] or driver.list("") == ["a"]
