"""Pure helpers of the views layer."""

from views.diff import word_diff


def test_word_diff_marks_changed_words():
    assert word_diff("so happy you came", "so glad you came here") == [
        ("equal", "so"), ("delete", "happy"), ("insert", "glad"), ("equal", "you"), ("equal", "came"),
        ("insert", "here")]
