"""Sequence packing: the examples of a batch share rows instead of each being padded to the longest one.

Padding a batch of chat examples to its longest one spends most of the compute on pad tokens. Packing keeps
the batch's examples (so the loss of every step, and hence the loss curve, is the padded run's) and lays them
into few rows of at most ``max_seq_length`` tokens, balanced so the rows are about equally long (SDPA and
eager still compute the masked-out attention blocks of a row; flash-attention varlen does not).

Exactness rests on transformers' packed-sequence support rather than on our own masks:
``DataCollatorWithFlattening`` restarts the position ids at every example and gives each example's first token
an ignored label (no loss predicts across a boundary), and with no attention mask transformers derives a
block-diagonal causal mask from the position-id restarts (SDPA and eager) or runs flash-attention varlen.
:func:`packing_keeps_examples_apart` checks on the loaded model that this holds.

The data order stays a list of examples, a function of (seed, epoch): a checkpoint's step pins the data
position down exactly, packed or not.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import torch

from tensorone_trainer.data.text import IGNORE_INDEX, Example


def pack_rows(lengths: list[int], capacity: int) -> list[list[int]]:
    """Lay example indices into few rows of at most ``capacity`` tokens (``ceil(total / capacity)`` where it
    fits), balanced.

    Longest example first, each into the least-filled row (ties: the lower row); when it does not fit there,
    one more row is tried. Deterministic. An example longer than ``capacity`` (none after tokenization, which
    truncates) raises the capacity to its length.
    """
    if not lengths:
        return []
    capacity = max(capacity, *lengths)
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    count = math.ceil(sum(lengths) / capacity)
    while True:
        rows: list[list[int]] = [[] for _ in range(count)]
        filled = [0] * count
        for index in order:
            row = min(range(count), key=lambda r: (filled[r], r))
            if filled[row] + lengths[index] > capacity:
                break
            rows[row].append(index)
            filled[row] += lengths[index]
        else:
            return rows
        count += 1


def collate_packed(rows: list[list[Example]], pad_id: int) -> dict[str, torch.Tensor]:
    """Rows of packed examples as one batch: ``input_ids``, ``labels`` and ``position_ids``, no attention mask.

    Each row is flattened by transformers' ``DataCollatorWithFlattening`` and right-padded to the longest row;
    the padding is a segment of its own (positions restart at 0, labels ignored), so no real token attends to it.
    """
    from transformers import DataCollatorWithFlattening

    flattening: Any = DataCollatorWithFlattening  # untyped in transformers
    flatten = flattening(return_position_ids=True, separator_id=IGNORE_INDEX)
    flat = [flatten([{"input_ids": e.input_ids, "labels": e.labels} for e in row]) for row in rows]
    width = max(int(f["input_ids"].shape[1]) for f in flat)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    for index, f in enumerate(flat):
        n = int(f["input_ids"].shape[1])
        input_ids[index, :n] = f["input_ids"][0]
        labels[index, :n] = f["labels"][0]
        positions[index, :n] = f["position_ids"][0]
        positions[index, n:] = torch.arange(width - n)
    return {"input_ids": input_ids, "labels": labels, "position_ids": positions}


def packing_keeps_examples_apart(
    model: Any,
    examples: list[Example],
    device: torch.device,
    autocast: contextlib.AbstractContextManager[Any],
    *,
    one_row: bool = False,
) -> bool:
    """Whether the model, fed packed rows laid out as training lays them, gives an example that follows another
    in its row the logits it gets alone.

    ``one_row``: the whole batch flattened into a single row (flash-attention, whose varlen path transformers
    takes for one row only); else two rows. Run once at start on two (shortened) training examples, in eval
    mode and without gradients, so it draws no random numbers and leaves the run's determinism untouched. A
    model whose attention ignores the position-id restarts lets the second example see the first, and its
    logits move far beyond rounding.
    """
    if len(examples) < 2:
        return False
    first, second = (Example(e.input_ids[:16], e.labels[:16]) for e in examples[:2])
    if len(first.input_ids) < 2 or len(second.input_ids) < 2:
        return False
    rows = [[first, second]] if one_row else [[first, second], [second, first]]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), autocast:
            packed = collate_packed(rows, pad_id=0)
            logits = model(
                input_ids=packed["input_ids"].to(device),
                position_ids=packed["position_ids"].to(device),
                use_cache=False,
            ).logits
            pairs = []
            for index, (before, after) in enumerate(rows):
                start, end = len(before.input_ids), len(before.input_ids) + len(after.input_ids)
                alone = model(input_ids=torch.tensor([after.input_ids], device=device), use_cache=False)
                pairs.append((logits[index, start:end], alone.logits[0]))
    finally:
        model.train(was_training)
    # fp32 differs only by summation order (~1e-6); bf16/fp16 kernels by ~1e-2; a leak moves logits by far more.
    tolerance = 1e-3 if logits.dtype == torch.float32 else 1e-1
    return all(
        (torch.log_softmax(got.float(), -1) - torch.log_softmax(want.float(), -1)).abs().max() <= tolerance
        for got, want in pairs
    )
