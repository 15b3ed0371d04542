"""Tiny causal language models built locally from real text, for demos, tests and smoke runs.

The platform must be demonstrable without downloading anything: this builds a byte-level BPE tokenizer trained
on text that ships with Python (the Zen of Python and the standard library's module documentation) and a
random-initialised Llama of a few hundred thousand parameters, both saved with ``save_pretrained`` so the
trainer loads them through the ordinary loading path.
"""

from __future__ import annotations

import codecs
import importlib
import importlib.util
from pathlib import Path
from typing import Any

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
_DOC_MODULES = (
    "json", "csv", "random", "collections", "argparse", "functools", "itertools", "pathlib", "logging",
    "textwrap", "string", "heapq", "bisect", "shutil", "tempfile", "dataclasses", "contextlib", "statistics",
)  # fmt: skip


def zen_of_python() -> str:
    """The Zen of Python, decoded from the ``this`` module's source without importing it (which prints)."""
    spec = importlib.util.find_spec("this")
    if spec is None or spec.origin is None:
        raise RuntimeError("the standard library's 'this' module is missing")
    source = Path(spec.origin).read_text(encoding="utf-8")
    encoded = source.split('s = """', 1)[1].split('"""', 1)[0]
    return codecs.decode(encoded, "rot13")


def real_text_corpus() -> list[str]:
    """Paragraphs of English prose shipped with every Python: the Zen and standard-library docstrings."""
    paragraphs = [line for line in zen_of_python().splitlines() if line.strip()]
    for name in _DOC_MODULES:
        doc = importlib.import_module(name).__doc__ or ""
        paragraphs += [" ".join(p.split()) for p in doc.split("\n\n") if len(p.split()) >= 4]
    return paragraphs


def build_tokenizer(texts: list[str], vocab_size: int = 384) -> Any:
    """A byte-level BPE tokenizer (any text encodes) with ``<s>``, ``</s>``, ``<pad>`` and a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    fast_class: Any = PreTrainedTokenizerFast
    fast = fast_class(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<pad>"
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_llama(
    out_dir: Path,
    texts: list[str] | None = None,
    *,
    vocab_size: int = 384,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    max_positions: int = 256,
    seed: int = 0,
    initializer_range: float = 0.2,
    intermediate_size: int | None = None,
    min_vocab_size: int = 0,
) -> Path:
    """Save a random-initialised Llama and its tokenizer (trained on ``texts``, default real text) to ``out_dir``.

    Defaults give a ~100k-parameter model that trains in seconds on a CPU; the size arguments also build the
    ~0.5B model of the GPU check.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(texts if texts is not None else real_text_corpus(), vocab_size)
    config = LlamaConfig(
        # min_vocab_size pads the embedding to a realistic size for benchmarks (ids past the tokenizer are unused).
        vocab_size=max(len(tokenizer), min_vocab_size),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        # Wide enough initial weights that a frozen random head still lets LoRA move the logits far.
        initializer_range=initializer_range,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    # A model folder is shared data: the trainer reads it as its own (non-root) user, and safetensors writes
    # its weights readable by their owner only.
    for path in [out_dir, *out_dir.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return out_dir
