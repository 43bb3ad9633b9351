"""Citations in UTF-16 code units: what JavaScript's string indices need."""

from hypothesis import given
from hypothesis import strategies as st

from retrieval.citations import utf16_offsets


@given(st.text(), st.data())
def test_an_offset_is_the_utf16_length_of_the_text_before_it(
    text: str, data: st.DataObject
) -> None:
    offsets = data.draw(st.lists(st.integers(0, len(text)), max_size=8))
    found = utf16_offsets(text, offsets)
    assert set(found) == set(offsets)
    for offset, units in found.items():
        assert units == len(text[:offset].encode("utf-16-le")) // 2


def test_characters_beyond_the_bmp_count_two_units() -> None:
    text = "a😀b𝄞c"
    assert utf16_offsets(text, [0, 1, 2, 3, 4, 5]) == {0: 0, 1: 1, 2: 3, 3: 4, 4: 6, 5: 7}
