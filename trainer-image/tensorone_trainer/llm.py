"""Causal-LM fine-tuning (LoRA, full; QLoRA where a GPU and bitsandbytes exist) with exact resume.

The loop is written out rather than delegated to ``transformers.Trainer`` because the platform promises that
a run stopped at step k and resumed produces the same loss at every later step: the data order is a pure
function of (seed, epoch), checkpoints fall on optimizer-step boundaries, and a checkpoint holds the trainable
weights, optimizer, scheduler, grad scaler, every rank's RNG states and the loop counters.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from tensorone.api import names
from tensorone.api.config import MixedPrecision, OptimizerName, Strategy
from tensorone.api.status import Optimizations
from tensorone.api.trainer_config import LlmRunConfig
from tensorone.catalog.estimator import parameter_count
from tensorone_trainer import distributed
from tensorone_trainer.artifacts import describe_artifacts
from tensorone_trainer.async_checkpoint import CheckpointWriter, background_saves_pay, cpu_copy
from tensorone_trainer.checkpoints import Manifest, epoch_checkpoint_id, step_checkpoint_id
from tensorone_trainer.confine import dataset_path, model_location
from tensorone_trainer.context import RunContext
from tensorone_trainer.data.packing import (
    collate_packed,
    pack_rows,
    packing_keeps_examples_apart,
)
from tensorone_trainer.data.records import read_records
from tensorone_trainer.data.text import (
    Example,
    RecordShape,
    collate,
    detect_shape,
    epoch_order,
    split_validation,
    tokenize_records,
)
from tensorone_trainer.errors import ConfigurationError
from tensorone_trainer.memory import ModelShape, choose_gradient_checkpointing
from tensorone_trainer.rng import capture_rng_state, restore_rng_state, seed_everything

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.pt"
WEIGHTS_FILE = "model.safetensors"
ADAPTER_DIR = names.ARTIFACT_ADAPTER


@dataclass
class LoopState:
    """The loop's counters; with the weights, optimizer, scheduler and RNG it pins the run down exactly."""

    global_step: int = 0
    best_loss: float | None = None
    best_eval_loss: float | None = None
    evals_without_improvement: int = 0
    elapsed: float = 0.0
    early_stopped: bool = False


def choose_precision(requested: MixedPrecision | None, device: torch.device) -> MixedPrecision:
    """bf16/fp16 on GPU (unset: bf16 where supported, else fp16); always fp32 on CPU."""
    if device.type != "cuda":
        if requested not in (None, MixedPrecision.NO):
            log.warning("mixed precision %s requested but there is no GPU: training in fp32", requested.value)
        else:
            log.info("no GPU: training in fp32 on CPU")
        return MixedPrecision.NO
    if requested is None:
        return MixedPrecision.BF16 if torch.cuda.is_bf16_supported() else MixedPrecision.FP16
    return requested


def _check_strategy(run: LlmRunConfig, device: torch.device) -> None:
    if run.config.strategy is Strategy.QLORA and (
        device.type != "cuda" or importlib.util.find_spec("bitsandbytes") is None
    ):
        raise ConfigurationError(
            "config.strategy: qlora needs a GPU and the bitsandbytes package; use 'lora' or 'full' here"
        )


def looks_like_path(name: str) -> bool:
    """A hub id is ``name`` or ``org/name``; anything else (``/models/x``, ``./x``, ``a/b/c``) is a path."""
    return name.startswith(("/", "./", "../", "~")) or name.count("/") > 1


def check_base_model(name: str, location: str) -> None:
    """A base model given as a path must exist (the hub loader would call a missing one a malformed repo id).
    ``location``: where ``name`` resolved on the data volume."""
    if looks_like_path(name) and not Path(location).expanduser().exists():
        raise ConfigurationError(
            f"config.baseModel: {name} does not exist on the worker (a path must name a model folder on a volume"
            " the job mounts; a hub id looks like 'org/name')"
        )


def _base_model(run: LlmRunConfig) -> str:
    return model_location(run, run.config.base_model, "config.baseModel")


def _unloadable(run: LlmRunConfig, error: Exception) -> ConfigurationError:
    # The loader's own message may quote the file it choked on; only its kind is passed on.
    return ConfigurationError(
        f"config.baseModel: cannot load {run.config.base_model!r} as a model ({type(error).__name__}): give a "
        "hub id available to the cluster or a model folder on the data volume"
    )


def _load_tokenizer(run: LlmRunConfig) -> Any:
    from transformers import AutoTokenizer

    location = _base_model(run)
    check_base_model(run.config.base_model, location)
    try:
        tokenizer: Any = AutoTokenizer.from_pretrained(location)
    except (OSError, ValueError) as e:
        raise _unloadable(run, e) from e
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


def _attention_request(precision: MixedPrecision, device: torch.device) -> str | None:
    """Flash-attention where it is installed and usable (CUDA, half precision); else the library's default,
    SDPA wherever the model supports it (eager otherwise)."""
    if (
        device.type == "cuda"
        and precision is not MixedPrecision.NO
        and importlib.util.find_spec("flash_attn") is not None
    ):
        return "flash_attention_2"
    return None


def _from_pretrained(run: LlmRunConfig, dtype: torch.dtype, kwargs: dict[str, Any]) -> Any:
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(_base_model(run), dtype=dtype, **kwargs)
    except (OSError, ValueError) as e:
        raise _unloadable(run, e) from e


def _load_model(run: LlmRunConfig, precision: MixedPrecision, device: torch.device) -> Any:
    conf = run.config
    kwargs: dict[str, Any] = {}
    if conf.strategy is Strategy.QLORA:
        from transformers import BitsAndBytesConfig

        quantization: Any = BitsAndBytesConfig
        kwargs["quantization_config"] = quantization(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
        )
    # LoRA keeps the frozen base in the compute dtype (memory); full fine-tuning keeps fp32 master weights.
    lora_bf16 = precision is MixedPrecision.BF16 and conf.strategy is not Strategy.FULL
    dtype = torch.bfloat16 if lora_bf16 else torch.float32
    model: Any = None
    attention = _attention_request(precision, device)
    if attention is not None:
        try:
            model = _from_pretrained(run, dtype, {**kwargs, "attn_implementation": attention})
        except (ConfigurationError, ImportError) as e:
            log.info("%s unavailable for this model (%s): using the default attention", attention, e)
    if model is None:
        model = _from_pretrained(run, dtype, kwargs)
    if "quantization_config" not in kwargs:
        model.to(device)
    return model


def _apply_strategy(model: Any, run: LlmRunConfig, gradient_checkpointing: bool) -> Any:
    conf = run.config
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if conf.strategy is Strategy.FULL:
        return model
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if conf.strategy is Strategy.QLORA:
        prepare: Any = prepare_model_for_kbit_training
        model = prepare(model, use_gradient_checkpointing=gradient_checkpointing)
    params = conf.parameters
    lora_class: Any = LoraConfig  # peft types lora_alpha as int; a float alpha is valid and used as given
    lora = lora_class(
        r=params.rank,
        lora_alpha=params.alpha,
        lora_dropout=params.dropout,
        target_modules=params.target_modules,
        task_type="CAUSAL_LM",
    )
    try:
        model = get_peft_model(model, lora)
    except ValueError as e:
        raise ConfigurationError(f"config.parameters.target_modules: {e}") from e
    if gradient_checkpointing:
        model.enable_input_require_grads()
    return model


def _optimizer(model: Any, run: LlmRunConfig, fused: bool) -> torch.optim.Optimizer:
    """The configured optimizer; Adam/AdamW with PyTorch's fused kernel when ``fused`` (CUDA parameters)."""
    training = run.config.training
    params = [p for p in model.parameters() if p.requires_grad]
    if training.optimizer is OptimizerName.SGD:
        return torch.optim.SGD(
            params, lr=training.learning_rate, momentum=0.9, weight_decay=training.weight_decay
        )
    options: dict[str, Any] = {"fused": True} if fused else {}
    if training.optimizer is OptimizerName.ADAM:
        return torch.optim.Adam(
            params, lr=training.learning_rate, weight_decay=training.weight_decay, **options
        )
    return torch.optim.AdamW(params, lr=training.learning_rate, weight_decay=training.weight_decay, **options)


def _fused_optimizer_applies(run: LlmRunConfig, device: torch.device) -> bool:
    # The fused Adam(W) kernels exist for CUDA tensors only; on CPU the loop stays on the reference kernels.
    return device.type == "cuda" and run.config.training.optimizer is not OptimizerName.SGD


def _load_trainable_state(model: Any, state: dict[str, torch.Tensor]) -> None:
    missing = [n for n, p in model.named_parameters() if p.requires_grad and n not in state]
    if missing:
        raise ConfigurationError(f"resumeFrom: checkpoint lacks weights for {missing[:3]} (different model?)")
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.requires_grad:
                param.copy_(state[name].to(param.device, param.dtype))


class LlmTrainer:
    """One causal-LM training run (every rank builds one; rank 0 reports and writes)."""

    def __init__(self, run: LlmRunConfig, ctx: RunContext) -> None:
        self.run = run
        self.ctx = ctx
        self.conf = run.config
        self.training = run.config.training
        self.device = ctx.dist.device
        self.precision = choose_precision(self.conf.optimization.mixed_precision, self.device)
        if self.device.type == "cpu":
            torch.use_deterministic_algorithms(True)
        else:
            log.info(
                "training on %s (%s), mixed precision %s",
                self.device, torch.cuda.get_device_name(self.device), self.precision.value,
            )  # fmt: skip
        _check_strategy(run, self.device)
        seed_everything(self.training.seed)
        # Tokenizer and data first: a malformed dataset fails in seconds, before the model is loaded.
        self.tokenizer = _load_tokenizer(run)
        records = read_records(dataset_path(run), run.dataset.format, root=run.data_root)
        shape = detect_shape(records[0])
        config_file = Path(_base_model(run)) / "config.json"
        model_max = 2048
        if config_file.is_file():
            model_max = int(json.loads(config_file.read_text()).get("max_position_embeddings") or 2048)
        max_len = self.training.max_seq_length or min(model_max, 2048)
        examples = tokenize_records(records, self.tokenizer, max_len)
        self.train_set, self.val_set = split_validation(
            examples, self.training.validation_split, self.training.seed
        )
        self.max_len = max_len
        model = _load_model(run, self.precision, self.device)
        self.gradient_checkpointing = self._choose_gradient_checkpointing(model)
        self.model = _apply_strategy(model, run, self.gradient_checkpointing)
        # transformers runs flash-attention varlen on a single flattened row only; SDPA/eager take rows of at
        # most max_len (their attention is computed over the whole row, masked).
        self.one_row_packing = "flash" in str(getattr(self.model.config, "_attn_implementation", ""))
        self.packing = self._choose_packing(shape)
        self.compiled = self._compile()
        self.pinned_memory = self.device.type == "cuda"
        world = ctx.dist.world_size
        per_rank = math.ceil(len(self.train_set) / world)
        self.micro_per_epoch = math.ceil(per_rank / self.training.batch_size)
        self.accum = self.training.gradient_accumulation_steps
        self.steps_per_epoch = math.ceil(self.micro_per_epoch / self.accum)
        self.total_steps = self.steps_per_epoch * self.training.epochs
        self.save_every = run.checkpoint.save_every_steps or self.training.save_every_steps
        self.fused_optimizer = _fused_optimizer_applies(run, self.device)
        self.optimizer = _optimizer(self.model, run, self.fused_optimizer)
        from transformers import get_scheduler

        self.scheduler = get_scheduler(
            self.training.lr_scheduler.value,
            optimizer=self.optimizer,
            num_warmup_steps=self.training.warmup_steps,
            num_training_steps=self.total_steps,
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision is MixedPrecision.FP16)
        self.ddp: Any = self.model
        if ctx.dist.distributed:
            self.ddp = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.state = LoopState()
        self.writer = CheckpointWriter(
            ctx.store,
            background=background_saves_pay(
                self.conf.optimization.async_checkpoint,
                on_gpu=self.device.type == "cuda",
                training_threads=torch.get_num_threads(),
                usable_cores=len(os.sched_getaffinity(0)),
            ),
        )
        self.optimizations = Optimizations(
            packing=self.packing,
            attention=str(getattr(self.model.config, "_attn_implementation", None) or "unknown"),
            mixed_precision=self.precision.value,
            fused_optimizer=self.fused_optimizer,
            pinned_memory=self.pinned_memory,
            gradient_checkpointing=self.gradient_checkpointing,
            compile=self.compiled,
            async_checkpoint=self.writer.background,
        )
        log.info("optimizations: %s", self.optimizations.to_wire())
        log.info(
            "%d training / %d validation examples, %d steps per epoch, %d steps in all (%s, %d rank(s))",
            len(self.train_set),
            len(self.val_set),
            self.steps_per_epoch,
            self.total_steps,
            self.conf.strategy.value,
            world,
        )

    def _choose_packing(self, shape: RecordShape) -> bool:
        """Pack where it is exact: prompt/completion and chat data on a model whose attention keeps packed
        examples apart (checked now); ``text`` records are already cut from one stream into full rows."""
        requested = self.conf.optimization.packing
        if requested is False or shape is RecordShape.TEXT:
            if requested and shape is RecordShape.TEXT:
                log.info("packing: text records are already cut from one stream into full rows")
            return False
        exact = packing_keeps_examples_apart(
            self.model, self.train_set, self.device, self._autocast(), one_row=self.one_row_packing
        )
        # Every rank decides alike (one status, one checkpoint flag): one rank in doubt turns it off for all.
        if not distributed.any_rank(not exact, self.ctx.dist):
            return True
        if requested:
            raise ConfigurationError(
                "config.optimization.packing: this model's attention lets packed examples see each other;"
                " set packing to false (or leave it unset)"
            )
        log.info("packing off: this model's attention does not keep packed examples apart")
        return False

    def _choose_gradient_checkpointing(self, model: Any) -> bool:
        """As configured, else on only when the memory estimate says the run would not fit the GPU without it."""
        gpu_memory_gb = None
        if self.device.type == "cuda":
            gpu_memory_gb = torch.cuda.get_device_properties(self.device).total_memory / 1e9
        counted = parameter_count(_base_model(self.run))
        shape = ModelShape(
            parameters=counted or float(sum(p.numel() for p in model.parameters())),
            layers=int(getattr(model.config, "num_hidden_layers", 1)),
            hidden=int(getattr(model.config, "hidden_size", 1)),
        )
        # The precision this run really uses (an unset one is bf16/fp16 on a GPU).
        optimization = self.conf.optimization.model_copy(update={"mixed_precision": self.precision})
        return choose_gradient_checkpointing(
            self.conf.model_copy(update={"optimization": optimization}),
            shape,
            tokens_per_micro_batch=self.training.batch_size * self.max_len,
            gpu_memory_gb=gpu_memory_gb,
        )

    def _compile(self) -> bool:
        """``torch.compile`` the model in place when asked (after the packing check, which runs it eagerly).

        In place (``Module.compile``) keeps parameter names, so checkpoints and the adapter are the same either
        way. Off unless asked: compiling costs time at the start, and packed batches vary in shape.
        """
        if not self.conf.optimization.compile:
            return False
        self.model.compile()
        log.info("model compiled with torch.compile (the first steps include compilation)")
        return True

    # -- checkpoints -------------------------------------------------------------------------------------
    def _snapshot(self, rng_states: list[Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The checkpoint's content, copied to host memory: what the loop changes next cannot reach it."""
        weights: dict[str, torch.Tensor] = cpu_copy(
            {n: p.detach().contiguous() for n, p in self.model.named_parameters() if p.requires_grad}
        )
        state: dict[str, Any] = cpu_copy(
            {
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "loop": asdict(self.state),
                "rng": rng_states,
                "world_size": self.ctx.dist.world_size,
                "steps_per_epoch": self.steps_per_epoch,
                "train_examples": len(self.train_set),
                "packing": self.packing,
            }
        )
        return weights, state

    def _write_checkpoint(
        self, folder: Path, weights: dict[str, torch.Tensor], state: dict[str, Any]
    ) -> None:
        """Write a snapshot (in the writer thread when saves are asynchronous: the live model is not read)."""
        from safetensors.torch import save_file

        if self.conf.strategy is not Strategy.FULL:
            # peft picks the adapter's tensors out of the given state dict (the snapshot), not the live model.
            self.model.save_pretrained(str(folder / ADAPTER_DIR), state_dict=weights)
        save_file(weights, str(folder / WEIGHTS_FILE))
        torch.save(state, folder / STATE_FILE)

    def save_checkpoint(self, checkpoint_id: str, loss: float | None, eval_loss: float | None) -> None:
        """Snapshot the state and hand it to the writer; the checkpoint is reported once it is in place."""
        rng_states = distributed.gather_objects(capture_rng_state(), self.ctx.dist)
        distributed.barrier()
        if self.ctx.dist.is_main:
            self.state.elapsed = self.reporter.elapsed

            def snapshot() -> Callable[[Path], None]:
                weights, state = self._snapshot(rng_states)
                return lambda folder: self._write_checkpoint(folder, weights, state)

            self.writer.submit(
                checkpoint_id,
                epoch=self.state.global_step // self.steps_per_epoch,
                step=self.state.global_step,
                loss=loss,
                eval_loss=eval_loss,
                attempt=self.ctx.attempt,
                snapshot=snapshot,
            )
            self._report_saved_checkpoints()
        distributed.barrier()

    def _report_saved_checkpoints(self) -> None:
        """Report the checkpoints whose saves have finished (durably in place), if any did since last time."""
        saved = self.writer.completed()
        if saved:
            self.reporter.checkpoints_changed(saved[-1].checkpoints)

    def _finish_checkpoints(self) -> None:
        """Wait for the save in flight (a stop or the end of the run must not leave it half done), report it."""
        self.writer.close()
        if self.ctx.dist.is_main:
            self._report_saved_checkpoints()

    def restore(self, manifest: Manifest) -> None:
        from safetensors.torch import load_file

        folder = self.ctx.store.path(manifest.id)
        state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=False)
        if (
            state["world_size"] != self.ctx.dist.world_size
            or state["steps_per_epoch"] != self.steps_per_epoch
        ):
            log.warning(
                "checkpoint %s was written by %d rank(s), this run has %d: the data order continues approximately",
                manifest.id,
                state["world_size"],
                self.ctx.dist.world_size,
            )
        if state.get("train_examples", len(self.train_set)) != len(self.train_set):
            log.warning(
                "checkpoint %s was written for %d training examples, the dataset now gives %d: not an exact resume",
                manifest.id,
                state["train_examples"],
                len(self.train_set),
            )
        if bool(state.get("packing")) != self.packing:
            # Same examples and the same loss either way, only summed in another order: equal to rounding.
            log.warning(
                "checkpoint %s was written with packing %s, this run has it %s: equal losses up to rounding only",
                manifest.id,
                "on" if state.get("packing") else "off",
                "on" if self.packing else "off",
            )
        _load_trainable_state(self.model, load_file(str(folder / WEIGHTS_FILE)))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.state = LoopState(**state["loop"])
        rng = state["rng"]
        restore_rng_state(rng[self.ctx.dist.rank] if self.ctx.dist.rank < len(rng) else rng[0])
        log.info("resumed from %s at step %d", manifest.id, self.state.global_step)

    # -- steps -------------------------------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.precision is MixedPrecision.NO:
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision is MixedPrecision.BF16 else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.pinned_memory:
            # Pinned host memory lets the copy run asynchronously with the GPU's queued work.
            return {k: v.pin_memory().to(self.device, non_blocking=True) for k, v in batch.items()}
        return {k: v.to(self.device) for k, v in batch.items()}

    def _batch(self, examples: list[Example]) -> dict[str, torch.Tensor]:
        return self._to_device(collate(examples, int(self.tokenizer.pad_token_id)))

    def _train_batch(self, examples: list[Example]) -> dict[str, torch.Tensor]:
        """A micro-batch: its examples packed into a few full rows, or one padded example a row."""
        if not self.packing:
            return self._batch(examples)
        lengths = [len(e.input_ids) for e in examples]
        rows = pack_rows(lengths, sum(lengths) if self.one_row_packing else self.max_len)
        packed = [[examples[i] for i in row] for row in rows]
        return self._to_device(collate_packed(packed, int(self.tokenizer.pad_token_id)))

    def _train_step(self, micro_batches: list[list[Example]]) -> tuple[float, int]:
        """One optimizer step; returns the summed loss and the real (non-pad) tokens it trained on."""
        self.ddp.train()
        loss_sum = 0.0
        tokens = 0
        for index, examples in enumerate(micro_batches):
            batch = self._train_batch(examples)
            last = index == len(micro_batches) - 1
            sync = contextlib.nullcontext() if last or not self.ctx.dist.distributed else self.ddp.no_sync()
            with sync:
                with self._autocast():
                    loss = self.ddp(**batch, use_cache=False).loss / len(micro_batches)
                self.scaler.scale(loss).backward()
            loss_sum += float(loss.detach().item())
            tokens += sum(len(e.input_ids) for e in examples)
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(
            [p for p in self.model.parameters() if p.requires_grad], self.conf.optimization.max_grad_norm
        )
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss_sum, tokens

    def evaluate(self) -> float:
        """Mean loss over the validation split (sharded across ranks, no dropout, no RNG drawn)."""
        mine = distributed.shard(list(range(len(self.val_set))), self.ctx.dist)
        self.ddp.eval()
        losses = []
        with torch.no_grad():
            for start in range(0, len(mine), self.training.batch_size):
                chunk = [self.val_set[i] for i in mine[start : start + self.training.batch_size]]
                with self._autocast():
                    losses.append(float(self.model(**self._batch(chunk)).loss.item()))
        return distributed.all_mean(sum(losses) / max(1, len(losses)), self.ctx.dist)

    def _after_evaluation(self, eval_loss: float) -> None:
        if self.state.best_eval_loss is None or eval_loss < self.state.best_eval_loss:
            self.state.best_eval_loss = eval_loss
            self.state.evals_without_improvement = 0
        else:
            self.state.evals_without_improvement += 1
        patience = self.training.early_stopping_patience
        if patience is not None and self.state.evals_without_improvement >= patience:
            log.info("early stopping: no better evaluation loss for %d evaluations", patience)
            self.state.early_stopped = True

    # -- the run -----------------------------------------------------------------------------------------
    def train(self) -> str:
        """Train to the end, to early stopping or to a stop request; returns "completed" or "stopped"."""
        manifest = self.ctx.resume_manifest()
        if manifest is not None:
            self.restore(manifest)
        history = self.ctx.load_history(self.state.global_step) if self.ctx.dist.is_main else []
        self.reporter = self.ctx.make_reporter(
            total_epochs=self.training.epochs,
            total_steps=self.total_steps,
            throughput_unit="tokens",
            history=history,
            elapsed_before=self.state.elapsed,
            best_loss=self.state.best_loss,
        )
        if manifest is not None and self.ctx.dist.is_main:
            self.reporter.checkpoints_changed([m.to_info() for m in self.ctx.store.manifests()])
        self.reporter.optimizations_chosen(self.optimizations)
        try:
            outcome = self._train_epochs()
        finally:
            self._finish_checkpoints()
        if outcome == "completed":
            self.write_artifacts()
            if self.ctx.dist.is_main:
                self.reporter.artifacts_written(describe_artifacts(self.ctx.output_dir))
        self.reporter.close(completed=outcome == "completed")
        return outcome

    def _train_epochs(self) -> str:
        """The epochs from the current position; returns "completed" or "stopped"."""
        outcome = "completed"
        start_epoch = self.state.global_step // self.steps_per_epoch
        for epoch in range(start_epoch, self.training.epochs):
            if self.state.early_stopped:
                break
            order = distributed.shard(
                epoch_order(len(self.train_set), self.training.seed, epoch), self.ctx.dist
            )
            micro = [
                order[i : i + self.training.batch_size]
                for i in range(0, len(order), self.training.batch_size)
            ]
            for step_in_epoch in range(
                self.state.global_step - epoch * self.steps_per_epoch, self.steps_per_epoch
            ):
                began = time.perf_counter()
                group = micro[step_in_epoch * self.accum : (step_in_epoch + 1) * self.accum]
                loss_sum, tokens = self._train_step([[self.train_set[i] for i in mb] for mb in group])
                self.state.global_step += 1
                loss = distributed.all_mean(loss_sum, self.ctx.dist)
                all_tokens = distributed.all_sum(tokens, self.ctx.dist)
                seconds = time.perf_counter() - began
                self.state.best_loss = (
                    loss if self.state.best_loss is None else min(self.state.best_loss, loss)
                )
                step = self.state.global_step
                epoch_end = step_in_epoch == self.steps_per_epoch - 1
                self.reporter.step(
                    step=step,
                    epoch=epoch + (step_in_epoch + 1) / self.steps_per_epoch,
                    loss=loss,
                    learning_rate=float(self.scheduler.get_last_lr()[0]),
                    throughput=all_tokens / seconds if seconds > 0 else None,
                )
                on_interval = self.save_every is not None and step % self.save_every == 0
                eval_loss = None
                if self.val_set and (epoch_end or on_interval):
                    eval_loss = self.evaluate()
                    self._after_evaluation(eval_loss)
                    self.reporter.evaluation(
                        step=step,
                        epoch=epoch + (step_in_epoch + 1) / self.steps_per_epoch,
                        eval_loss=eval_loss,
                    )
                if self.ctx.dist.is_main:
                    self._report_saved_checkpoints()
                stop = distributed.any_rank(self.ctx.stop.requested, self.ctx.dist)
                if epoch_end:
                    self.save_checkpoint(epoch_checkpoint_id(epoch + 1), loss, eval_loss)
                elif on_interval or stop or self.state.early_stopped:
                    self.save_checkpoint(step_checkpoint_id(step), loss, eval_loss)
                if stop:
                    log.info("stopped at step %d on request; writing its checkpoint", step)
                    outcome = "stopped"
                    break
                if self.state.early_stopped:
                    break
            if outcome == "stopped":
                break
        return outcome

    def write_artifacts(self) -> None:
        """The adapter (peft format) or model, the tokenizer and, on request, the merged model (rank 0)."""
        distributed.barrier()
        if not self.ctx.dist.is_main:
            return
        out = self.ctx.output_dir
        if self.conf.strategy is Strategy.FULL:
            self.model.save_pretrained(str(out / names.ARTIFACT_MODEL))
            self.tokenizer.save_pretrained(str(out / names.ARTIFACT_MODEL))
        else:
            self.model.save_pretrained(str(out / ADAPTER_DIR))
            self.tokenizer.save_pretrained(str(out / ADAPTER_DIR))
            if self.ctx.merge:
                merged = self.model.merge_and_unload()
                merged.save_pretrained(str(out / names.ARTIFACT_MERGED), safe_serialization=True)
                self.tokenizer.save_pretrained(str(out / names.ARTIFACT_MERGED))
        log.info("artifacts written under %s", out)


def train_llm(run: LlmRunConfig, ctx: RunContext) -> str:
    return LlmTrainer(run, ctx).train()
