"""Put a tiny Llama and a small text dataset on a running sandbox's dataset volume, for the JS SDK's tests.

Node cannot build a model; this does what ``make demo`` does (``tensorone.demo.assets``), smaller. Prints one
JSON line: ``{"baseModel": <in-cluster path>, "source": <in-cluster path of the JSONL file>}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tensorone.demo.assets import documentation_paragraphs, write_text_dataset
from tensorone.demo.platform import DATASET_MOUNT, LocalPlatform
from tensorone_trainer.tiny import build_tiny_llama


def main(sandbox_dir: str, paragraphs: int = 96) -> None:
    volume = LocalPlatform(Path(sandbox_dir)).dataset_volume()
    texts = documentation_paragraphs(paragraphs)
    build_tiny_llama(volume / "models" / "tiny-llama", texts)
    write_text_dataset(volume / "text" / "docs.jsonl", texts)
    print(json.dumps({
        "baseModel": f"{DATASET_MOUNT}/models/tiny-llama",
        "source": f"{DATASET_MOUNT}/text/docs.jsonl",
    }))  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1])
