"""Turning records into token sequences for causal-LM training.

Three shapes are accepted, recognised from the first record and then required of every record: ``text``
(packed into ``max_seq_length`` blocks, no padding wasted), ``prompt``/``completion`` (loss on the completion
only, padded per batch) and chat ``messages`` (rendered with the tokenizer's chat template when it has one).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import torch

from tensorone_trainer.data.records import Record
from tensorone_trainer.errors import DataError

IGNORE_INDEX = -100


class RecordShape(StrEnum):
    TEXT = "text"
    PROMPT_COMPLETION = "prompt/completion"
    MESSAGES = "messages"


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]


def detect_shape(record: Record) -> RecordShape:
    keys = set(record.fields)
    if "messages" in keys:
        return RecordShape.MESSAGES
    if {"prompt", "completion"} <= keys:
        return RecordShape.PROMPT_COMPLETION
    if "text" in keys:
        return RecordShape.TEXT
    # The fields found are not listed: in a CSV file they are the first line, which may be anything.
    raise DataError(
        f"{record.location}: a record needs 'text', or 'prompt' and 'completion', or 'messages'"
        f" (found {len(keys)} other field(s))"
    )


def _string_field(record: Record, name: str) -> str:
    value = record.fields.get(name)
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{record.location}: field '{name}' must be a non-empty string")
    return value


def _messages(record: Record) -> list[dict[str, str]]:
    value = record.fields.get("messages")
    if not isinstance(value, list) or not value:
        raise DataError(f"{record.location}: field 'messages' must be a non-empty list")
    out = []
    for index, message in enumerate(value):
        if (
            not isinstance(message, dict)
            or not isinstance(message.get("role"), str)
            or not isinstance(message.get("content"), str)
        ):
            raise DataError(f"{record.location}: messages[{index}] needs string 'role' and 'content'")
        out.append({"role": message["role"], "content": message["content"]})
    return out


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _bos(tokenizer: Any) -> list[int]:
    bos = tokenizer.bos_token_id
    return [bos] if bos is not None else []


def _eos(tokenizer: Any) -> list[int]:
    eos = tokenizer.eos_token_id
    return [eos] if eos is not None else []


def tokenize_records(records: list[Record], tokenizer: Any, max_seq_length: int) -> list[Example]:
    """Validate every record (failing on the first bad one, by location) and tokenize the dataset."""
    shape = detect_shape(records[0])
    if shape is RecordShape.TEXT:
        stream: list[int] = []
        for record in records:
            if detect_shape(record) is not shape:
                raise DataError(f"{record.location}: expected field 'text' like the first record")
            stream += _bos(tokenizer) + _encode(tokenizer, _string_field(record, "text")) + _eos(tokenizer)
        # Packing: one stream cut into full blocks; a short tail is kept if it can still teach something.
        blocks = [stream[i : i + max_seq_length] for i in range(0, len(stream), max_seq_length)]
        return [Example(block, list(block)) for block in blocks if len(block) >= 2]
    examples = []
    for record in records:
        if detect_shape(record) is not shape:
            raise DataError(f"{record.location}: expected {shape.value} fields like the first record")
        if shape is RecordShape.PROMPT_COMPLETION:
            prompt = _bos(tokenizer) + _encode(tokenizer, _string_field(record, "prompt"))
            completion = _encode(tokenizer, _string_field(record, "completion")) + _eos(tokenizer)
            ids = (prompt + completion)[:max_seq_length]
            labels = ([IGNORE_INDEX] * len(prompt) + completion)[:max_seq_length]
        else:
            messages = _messages(record)
            if getattr(tokenizer, "chat_template", None):
                rendered = tokenizer.apply_chat_template(messages, tokenize=False)
                ids = _encode(tokenizer, rendered)
            else:
                text = "".join(f"{m['role']}: {m['content']}\n" for m in messages)
                ids = _bos(tokenizer) + _encode(tokenizer, text) + _eos(tokenizer)
            ids = ids[:max_seq_length]
            labels = list(ids)
        if all(label == IGNORE_INDEX for label in labels[1:]):
            raise DataError(
                f"{record.location}: nothing left to learn after truncation to {max_seq_length} tokens"
            )
        examples.append(Example(ids, labels))
    return examples


def split_validation(
    examples: list[Example], fraction: float | None, seed: int
) -> tuple[list[Example], list[Example]]:
    """A deterministic (seeded) train/validation split; no validation when ``fraction`` is unset or 0."""
    if not fraction or len(examples) < 2:
        return examples, []
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_val = min(len(examples) - 1, max(1, round(fraction * len(examples))))
    val = sorted(order[:n_val])
    train = sorted(order[n_val:])
    return [examples[i] for i in train], [examples[i] for i in val]


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The example order of one epoch: a function of (seed, epoch) only, so resume can recompute it."""
    generator = torch.Generator().manual_seed(seed * 1000 + epoch)
    return [int(i) for i in torch.randperm(n, generator=generator)]


def collate(batch: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad a batch on the right to its longest sequence; padding never counts in the loss."""
    width = max(len(e.input_ids) for e in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    for row, example in enumerate(batch):
        n = len(example.input_ids)
        input_ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        attention[row, :n] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention}
