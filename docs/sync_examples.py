"""Copy each example file into the page blocks that name it: `python docs/sync_examples.py`.

A page shows an example as a fenced block titled with the file that tests execute:

    ```python title="docs/examples/quickstart.py"
    ...the file, byte for byte...
    ```

so it reads well on GitHub as well as in the built site. tests/test_docs.py fails when a
block and its file differ; edit the file, then run this. To add an example to a page,
write the fence lines with nothing between them and run this.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r'^(```(?:python|py) title="([^"]+)"\n)(.*?)(^```$)', re.M | re.S)


def synced(page_text: str) -> str:
    """The page with every titled block replaced by its file's current text."""
    return BLOCK.sub(lambda m: m[1] + (ROOT / m[2]).read_text() + m[4], page_text)


def main(pages: list[Path]) -> None:
    for page in pages or sorted((ROOT / "docs").glob("*.md")):
        text = page.read_text()
        if synced(text) != text:
            page.write_text(synced(text))
            print(f"updated {page}")


if __name__ == "__main__":
    main([Path(arg) for arg in sys.argv[1:]])
