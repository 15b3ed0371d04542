"""Text datasets: every format and record shape, and malformed data named by file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tensorone.api.dataset import DatasetFormat
from tensorone_trainer.data.records import read_records
from tensorone_trainer.data.text import IGNORE_INDEX, collate, epoch_order, split_validation, tokenize_records
from tensorone_trainer.errors import DataError
from tensorone_trainer.tiny import build_tokenizer
from tests.helpers.tiny_models import learnable_texts, write_text_dataset


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return build_tokenizer(learnable_texts(20), vocab_size=300)


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_every_format_reads_the_same_records(tmp_path: Path, fmt: str) -> None:
    path = write_text_dataset(tmp_path / f"d.{fmt}", n=5, fmt=fmt)
    records = read_records(path, DatasetFormat(fmt))
    assert [r.fields["text"] for r in records] == learnable_texts(5)


def test_text_is_packed_into_full_blocks(tmp_path: Path, tokenizer: Any) -> None:
    records = read_records(write_text_dataset(tmp_path / "d.jsonl", n=10), DatasetFormat.JSONL)
    examples = tokenize_records(records, tokenizer, max_seq_length=16)
    assert all(len(e.input_ids) == 16 for e in examples[:-1])
    assert examples[0].labels == examples[0].input_ids


def test_prompt_tokens_are_not_learned(tmp_path: Path, tokenizer: Any) -> None:
    records = read_records(write_text_dataset(tmp_path / "d.jsonl", n=2, shape="prompt"), DatasetFormat.JSONL)
    example = tokenize_records(records, tokenizer, max_seq_length=128)[0]
    prompt_len = len(tokenizer("Beautiful is better than ugly.", add_special_tokens=False)["input_ids"]) + 1
    assert example.labels[:prompt_len] == [IGNORE_INDEX] * prompt_len
    assert example.labels[prompt_len:] == example.input_ids[prompt_len:]


def test_chat_messages_use_the_tokenizers_template(tmp_path: Path, tokenizer: Any) -> None:
    records = read_records(
        write_text_dataset(tmp_path / "d.jsonl", n=1, shape="messages"), DatasetFormat.JSONL
    )
    example = tokenize_records(records, tokenizer, max_seq_length=256)[0]
    assert tokenizer.decode(example.input_ids).startswith(
        "<|user|>Beautiful is better than ugly</s><|assistant|>"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "fine"}\n{"text": \n', r"d\.jsonl:2: not valid JSON"),
        ('{"text": "fine"}\n{"text": ""}\n', r"d\.jsonl:2: field 'text' must be a non-empty string"),
        ('{"text": "fine"}\n{"prompt": "x", "completion": "y"}\n', r"d\.jsonl:2: expected field 'text'"),
        ('{"body": "x"}\n', r"d\.jsonl:1: a record needs 'text'"),
        (
            '{"messages": [{"role": "user"}]}\n',
            r"d\.jsonl:1: messages\[0\] needs string 'role' and 'content'",
        ),
    ],
    ids=["bad-json", "empty-text", "mixed-shapes", "no-known-field", "bad-message"],
)
def test_malformed_record_is_named_by_file_and_line(
    tmp_path: Path, tokenizer: Any, content: str, message: str
) -> None:
    (tmp_path / "d.jsonl").write_text(content)
    with pytest.raises(DataError, match=message):
        tokenize_records(read_records(tmp_path / "d.jsonl", DatasetFormat.JSONL), tokenizer, 32)


def test_csv_error_names_the_line(tmp_path: Path, tokenizer: Any) -> None:
    (tmp_path / "d.csv").write_text('text\nhello there\n""\n')
    with pytest.raises(DataError, match=r"d\.csv:3: field 'text'"):
        tokenize_records(read_records(tmp_path / "d.csv", DatasetFormat.CSV), tokenizer, 32)


def test_split_and_epoch_order_are_deterministic(tmp_path: Path, tokenizer: Any) -> None:
    records = read_records(
        write_text_dataset(tmp_path / "d.jsonl", n=20, shape="prompt"), DatasetFormat.JSONL
    )
    examples = tokenize_records(records, tokenizer, 64)
    train, val = split_validation(examples, 0.2, seed=3)
    assert (len(train), len(val)) == (16, 4)
    assert split_validation(examples, 0.2, seed=3) == (train, val)
    assert epoch_order(16, 3, 1) == epoch_order(16, 3, 1) != epoch_order(16, 3, 2)


def test_collate_pads_without_learning_padding(tokenizer: Any) -> None:
    from tensorone_trainer.data.text import Example

    batch = collate([Example([5, 6, 7], [5, 6, 7]), Example([8], [8])], pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[5, 6, 7], [8, IGNORE_INDEX, IGNORE_INDEX]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


SECRET = "SECRET-first-line-of-a-file"


@pytest.mark.parametrize(
    ("name", "fmt", "content", "names"),
    [
        ("d.csv", DatasetFormat.CSV, f"{SECRET}\nvalue\n".encode(), "d.csv:2"),
        ("d.jsonl", DatasetFormat.JSONL, f'{{"{SECRET}": 1}}\n'.encode(), "d.jsonl:1"),
        ("d.jsonl", DatasetFormat.JSONL, f"{SECRET} not json\n".encode(), "d.jsonl:1"),
        ("d.json", DatasetFormat.JSON, f'[{{"text": 1}}, "{SECRET}"]'.encode(), "d.json: record 1"),
        ("d.jsonl", DatasetFormat.JSONL, SECRET.encode() + b"\xff\xfe\n", "not UTF-8"),
        ("d.csv", DatasetFormat.CSV, f'text\n"{SECRET}{"x" * 200_000}"\n'.encode(), "not valid CSV"),
        ("d.parquet", DatasetFormat.PARQUET, f"{SECRET}\n".encode(), "not a readable Parquet file"),
    ],
    ids=[
        "csv-header",
        "jsonl-key",
        "jsonl-not-json",
        "json-not-an-object",
        "not-utf8",
        "csv-field-too-large",
        "not-parquet",
    ],
)
def test_data_errors_name_file_and_line_never_the_contents(
    tmp_path: Path, tokenizer: Any, name: str, fmt: DatasetFormat, content: bytes, names: str
) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError) as refused:
        tokenize_records(read_records(tmp_path / name, fmt), tokenizer, 32)
    assert names in str(refused.value)
    assert SECRET not in str(refused.value)
