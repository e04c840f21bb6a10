from __future__ import annotations

from operations.core.redact import MASK, Redactor


def test_registered_values_are_masked_longest_first(tmp_path):
    redactor = Redactor()
    redactor.register("hunter22")
    (tmp_path / "jwt").write_text("hunter22-and-more\n")
    assert redactor.read_secret(tmp_path / "jwt") == "hunter22-and-more\n"
    text = "token=hunter22-and-more pw=hunter22"
    assert redactor.redact(text) == f"token={MASK} pw={MASK}"
    assert redactor.contains_secret(text)


def test_short_values_are_not_registered_so_reports_stay_readable():
    redactor = Redactor()
    redactor.register("ab\n")
    assert redactor.redact("ab cd ab") == "ab cd ab"
    assert not redactor.contains_secret("ab")
