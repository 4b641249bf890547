"""A streaming answer's completed blocks: found the same however the text arrives, each rendered once,
and rendered one by one they give what the whole text renders to (the live view matches the end)."""
from __future__ import annotations

import random

import pytest

from app.core import markdown_blocks
from app.core.markdown import render_markdown_safe
from app.core.markdown_blocks import BlockScanner, completed_blocks, render_block

ANSWER = """You said: show me **code** and a table

This is **Studio's demo model**.

```python
def greet(name):

    return f"Hello, {name}!"
```

| model | provider |
| --- | --- |
| demo | echo |

1. Install:

   ```bash
   pip install studio

   ```

2. Run it, then read the [docs](https://example.org).

- a
- b

---

> quoted

    indented code

    more of it

Inline $x^2$ and

$$
\\frac{1}{2}
$$

~~~
``` inside a tilde fence

~~~
word1 word2 word3"""


def fed_in_pieces(text: str, rng: random.Random) -> tuple[list[str], BlockScanner]:
    scanner, blocks, position = BlockScanner(), [], 0
    while position < len(text):
        size = rng.randint(1, 9)
        blocks += scanner.feed(text[position:position + size])
        position += size
    return blocks, scanner


def test_blocks_are_the_same_however_the_text_arrives():
    whole, tail = completed_blocks(ANSWER)
    rng = random.Random(21)
    for _ in range(300):
        blocks, scanner = fed_in_pieces(ANSWER, rng)
        assert blocks == whole and scanner.tail == tail
        assert scanner.stable_length + len(tail) == len(ANSWER)


def test_rendered_one_by_one_the_blocks_give_the_whole_answer():
    blocks, tail = completed_blocks(ANSWER)
    assert tail == "word1 word2 word3"
    assert "".join(render_markdown_safe(b) for b in blocks) + render_markdown_safe(tail) == render_markdown_safe(ANSWER)


def test_a_loose_list_stays_one_block_across_blank_lines():
    blocks, tail = completed_blocks("1. one\n\n2. two\n\n   more of two\n\n3. three\n\nAfter.")
    assert blocks == ["1. one\n\n2. two\n\n   more of two\n\n3. three\n\n"] and tail == "After."


def test_a_fence_is_finished_at_its_closing_line_and_not_before():
    blocks, tail = completed_blocks("```\ncode\n\nNot a paragraph\n")
    assert blocks == [] and tail.startswith("```")
    blocks, tail = completed_blocks("```\ncode\n\nstill code\n```\nText")
    assert blocks == ["```\ncode\n\nstill code\n```\n"] and tail == "Text"


def test_a_table_is_finished_only_when_the_next_block_starts():
    growing = "| a | b |\n| --- | --- |\n| 1 | 2 |\n"
    assert completed_blocks(growing) == ([], growing)
    assert completed_blocks(growing + "\n")[0] == []  # a blank line alone: another table could follow
    assert completed_blocks(growing + "\nN")[0] == [growing + "\n"]


@pytest.mark.parametrize("start, ends_the_list", [
    ("-", False), ("1", False), ("12.", False),  # could still be the next item: wait
    ("- ", False), ("12. ", False),  # the next item: the list goes on
    ("--", True), ("**", True), ("2024 ", True), ("W", True),  # something else: the list is finished
])
def test_a_line_after_a_list_is_decided_by_its_first_characters(start, ends_the_list):
    scanner = BlockScanner()
    scanner.feed("- a\n- b\n\n")
    assert bool(scanner.feed(start)) == ends_the_list


def test_each_block_is_rendered_once_per_process(monkeypatch):
    calls = []
    monkeypatch.setattr(markdown_blocks, "render_markdown_safe",
                        lambda text, **kw: calls.append(text) or render_markdown_safe(text, **kw))
    markdown_blocks._CACHE.clear()
    blocks, _ = completed_blocks(ANSWER)
    first = [render_block(b) for b in blocks]
    again = [render_block(b) for b in blocks]
    assert first == again and len(calls) == len(set(blocks))


def test_scanning_is_linear_in_the_text(monkeypatch):
    """Fed 20 characters at a time, a long answer's lines are looked at once, not once per piece
    (a 20,000-character last line included)."""
    text = ("A paragraph with **bold** words.\n\n" + "| a | b |\n| - | - |\n| 1 | 2 |\n\n") * 300 + "x" * 20_000
    looked_at = []
    for name in ("_decide_block_end", "_read_line"):
        method = getattr(BlockScanner, name)
        def counted(self, line, *args, _method=method):
            looked_at.append(len(line))
            return _method(self, line, *args)

        monkeypatch.setattr(BlockScanner, name, counted)
    scanner = BlockScanner()
    for start in range(0, len(text), 20):
        scanner.feed(text[start:start + 20])
    assert scanner.stable_length == len(text) - 20_000
    assert sum(looked_at) <= 2 * len(text) + 16 * len(text) // 20
