"""Sequence packing is exact: a packed example's loss is its loss alone, on a tiny Llama, SDPA and eager."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path
from typing import Any

import pytest
import torch

from tensorone_trainer.data.packing import (
    collate_packed,
    pack_rows,
    packing_keeps_examples_apart,
)
from tensorone_trainer.data.text import IGNORE_INDEX, Example
from tests.helpers.tiny_models import build_tiny_llama


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("packing") / "model")


def _load(model_dir: Path, attention: str) -> Any:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), attn_implementation=attention)
    return model.eval()


def _examples(lengths: list[int], seed: int = 0) -> list[Example]:
    """Examples of the given lengths; the first third of each is an unlearned prompt, as in prompt/completion."""
    rng = random.Random(seed)
    out = []
    for n in lengths:
        ids = [rng.randrange(3, 300) for _ in range(n)]
        prompt = n // 3
        out.append(Example(ids, [IGNORE_INDEX] * prompt + ids[prompt:]))
    return out


def _token_losses(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-token loss (0 where ignored), shifted as transformers' causal-LM loss shifts it."""
    with torch.no_grad():
        logits = model(**batch, use_cache=False).logits
    targets = torch.nn.functional.pad(batch["labels"], (0, 1), value=IGNORE_INDEX)[:, 1:]
    return torch.nn.functional.cross_entropy(
        logits.transpose(1, 2), targets, ignore_index=IGNORE_INDEX, reduction="none"
    )


def _alone_loss(model: Any, example: Example) -> float:
    ids = torch.tensor([example.input_ids])
    batch = {
        "input_ids": ids,
        "labels": torch.tensor([example.labels]),
        "attention_mask": torch.ones_like(ids),
    }
    losses = _token_losses(model, batch)
    return float(losses.sum() / (torch.tensor(example.labels[1:]) != IGNORE_INDEX).sum())


def _packed_losses(model: Any, rows: list[list[Example]], batch: dict[str, torch.Tensor]) -> list[float]:
    """The mean loss of every example of every row, read from one forward pass over the packed batch."""
    losses = _token_losses(model, batch)
    out = []
    for index, row in enumerate(rows):
        start = 0
        for example in row:
            end = start + len(example.input_ids)
            counted = batch["labels"][index, start + 1 : end] != IGNORE_INDEX
            out.append(float(losses[index, start : end - 1].sum() / counted.sum()))
            start = end
    return out


@pytest.mark.parametrize("seed", range(20))
def test_rows_hold_every_example_once_in_the_fewest_balanced_rows(seed: int) -> None:
    rng = random.Random(seed)
    lengths = [rng.choice([rng.randrange(5, 60), rng.randrange(60, 500)]) for _ in range(8)]
    rows = pack_rows(lengths, capacity=512)
    assert sorted(i for row in rows for i in row) == list(range(8))
    loads = [sum(lengths[i] for i in row) for row in rows]
    assert max(loads) <= 512
    assert len(rows) <= -(-sum(lengths) // 512) + 1  # at most one row over the lower bound
    assert pack_rows(lengths, capacity=512) == rows  # deterministic


def test_short_examples_share_rows_of_about_equal_length() -> None:
    rows = pack_rows([100, 90, 80, 70, 60, 50, 40, 30], capacity=512)
    assert len(rows) == 2
    assert [sum([100, 90, 80, 70, 60, 50, 40, 30][i] for i in row) for row in rows] == [260, 260]
    assert pack_rows([512, 512, 3], capacity=512) == [[0], [1], [2]]
    assert pack_rows([], capacity=512) == []


def test_packed_batch_restarts_positions_and_learns_nothing_across_a_boundary() -> None:
    first, second, third = _examples([5, 4, 3])
    batch = collate_packed([[first, second], [third]], pad_id=0)
    assert batch["position_ids"][0].tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3]
    assert batch["position_ids"][1].tolist() == [0, 1, 2, 0, 1, 2, 3, 4, 5]  # padding: a segment of its own
    # The label at each example's first token (what the previous example's last token would predict) is ignored.
    assert batch["labels"][0, 5].item() == IGNORE_INDEX
    assert batch["labels"][0, 6:].tolist() == second.labels[1:]
    assert batch["labels"][1, 3:].tolist() == [IGNORE_INDEX] * 6
    assert batch["input_ids"][1, 3:].tolist() == [0] * 6
    assert "attention_mask" not in batch  # transformers derives the block-diagonal mask from the positions


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_each_packed_example_has_the_loss_it_has_alone(model_dir: Path, attention: str) -> None:
    model = _load(model_dir, attention)
    examples = _examples([17, 9, 30, 5, 22, 12, 8, 40])
    rows = [[examples[i] for i in row] for row in pack_rows([len(e.input_ids) for e in examples], 80)]
    assert any(len(row) > 2 for row in rows)
    packed = _packed_losses(model, rows, collate_packed(rows, pad_id=0))
    alone = [_alone_loss(model, e) for row in rows for e in row]
    assert packed == pytest.approx(alone, rel=1e-5, abs=1e-6)


def test_the_check_can_fail_a_row_without_position_restarts(model_dir: Path) -> None:
    """Control: the same rows with one running position sequence let examples see each other, and the losses
    differ, so the equality above is evidence and not a coincidence of the tiny model."""
    model = _load(model_dir, "sdpa")
    examples = _examples([17, 9, 30])
    rows = [examples]
    batch = collate_packed(rows, pad_id=0)
    leaky = {"input_ids": batch["input_ids"], "labels": batch["labels"]}
    packed = _packed_losses(model, rows, leaky)
    alone = [_alone_loss(model, e) for e in examples]
    assert packed[0] == pytest.approx(alone[0], rel=1e-5)  # the first example sees nothing before it anyway
    assert packed[1:] != pytest.approx(alone[1:], rel=1e-3)


class _IgnoresPositions(torch.nn.Module):
    """A causal LM whose attention knows nothing of packed rows (it drops the position ids it is given)."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, input_ids: torch.Tensor, **kwargs: Any) -> Any:
        kwargs.pop("position_ids", None)
        return self.inner(input_ids=input_ids, **kwargs)


@pytest.mark.parametrize("one_row", [False, True], ids=["rows", "one-flattened-row"])
def test_start_check_accepts_llama_and_refuses_a_model_that_ignores_positions(
    model_dir: Path, one_row: bool
) -> None:
    model = _load(model_dir, "sdpa").train()
    examples = _examples([12, 14])
    cpu = torch.device("cpu")
    check = contextlib.nullcontext()
    assert packing_keeps_examples_apart(model, examples, cpu, check, one_row=one_row)
    assert model.training  # left in the mode it was found in
    assert not packing_keeps_examples_apart(_IgnoresPositions(model), examples, cpu, check, one_row=one_row)
