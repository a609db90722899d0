"""The bucket's layout: every object key and id the service makes."""

import re

import pytest

from globalvoice.storage import layout


def test_keys_and_prefixes() -> None:
    assert layout.upload_key("ten_a", "upl_b") == "uploads/ten_a/upl_b/source"
    assert layout.dub_prefix("ten_a", "dub_c") == "dubs/ten_a/dub_c/"
    assert layout.work_key("ten_a", "dub_c", "es.rendered.json") == (
        "dubs/ten_a/dub_c/work/es.rendered.json"
    )
    assert layout.reference_key("ten_a", "voc_d") == "voices/ten_a/voc_d/reference.flac"
    assert layout.reference_key("ten_a", "voc_d").startswith(layout.voice_prefix("ten_a", "voc_d"))
    assert layout.artifact_key(layout.ARTIFACTS_PREFIX, "cafe01", ".npz") == (
        "artifacts/ca/cafe01.npz"
    )


@pytest.mark.parametrize("bad", ["", "..", ".hidden", "a/b", "x\n"])
def test_an_id_cannot_name_another_folder(bad: str) -> None:
    with pytest.raises(ValueError):
        layout.dub_prefix("ten_a", bad)
    with pytest.raises(ValueError):
        layout.voice_prefix(bad, "voc_d")


def test_ids_carry_their_kind() -> None:
    first, second = layout.new_id("dub"), layout.new_id("dub")
    assert re.fullmatch(r"dub_[0-9a-f]{32}", first) and first != second
