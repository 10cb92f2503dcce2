"""Helpers every check test uses, as fixtures: run a check that must fail, and read its verdict.

    failure(obj, check, **options) -> CheckFailed    the check must fail, showing no internals
    message(obj, check, **options) -> str            the same, as the text the student reads
    named(obj, mistake, check, confidence="match")   the failure names this known mistake
"""

from __future__ import annotations

import pytest

from attn_course.checks import CheckFailed


def expect_failure(obj, check, **options) -> CheckFailed:
    with pytest.raises(CheckFailed) as info:
        check(obj, **options)
    text = str(info.value)
    assert "Traceback" not in text
    assert "attn_course/checks" not in text and "attn_course\\checks" not in text
    return info.value


def expect_named(obj, mistake: str, check, confidence: str = "match") -> str:
    err = expect_failure(obj, check)
    diagnosis = err.verdict.diagnosis
    assert (diagnosis.mistake, diagnosis.confidence) == (mistake, confidence), str(err)
    return str(err)


@pytest.fixture
def failure():
    return expect_failure


@pytest.fixture
def message():
    return lambda obj, check, **options: str(expect_failure(obj, check, **options))


@pytest.fixture
def named():
    return expect_named
