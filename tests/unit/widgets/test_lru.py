"""The explorer's picture cache: least recently used goes first."""

import pytest

from attn_course.widgets.lru import LruCache


def test_keeps_at_most_maxsize_and_drops_the_least_recently_used():
    cache = LruCache(maxsize=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recently used
    cache.put("c", 3)
    assert "b" not in cache, "the least recently used value was kept"
    assert (cache.get("a"), cache.get("c"), len(cache)) == (1, 3, 2)
    cache.put("a", 10)  # storing again replaces and marks as used
    cache.put("d", 4)
    assert "c" not in cache and cache.get("a") == 10


def test_missing_keys_clear_and_bad_sizes():
    cache = LruCache(maxsize=1)
    assert cache.get("nothing") is None
    cache.put("x", b"png")
    cache.clear()
    assert len(cache) == 0 and "x" not in cache
    with pytest.raises(ValueError, match="maxsize must be at least 1, got 0"):
        LruCache(maxsize=0)
