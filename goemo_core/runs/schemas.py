"""The files of a run folder, each read through one declared schema (config.json, metrics.json, info.json,
label.json, owner.json, origin.json, status, history.jsonl, and the derived calibration.json), and the manifest
that travels with them (goemo_run.json). A file that does not fit its schema makes the whole run "unreadable:
reason": listed (so it can be found and deleted) and left out of every table, page and ensemble, never an exception
in a reader; a derived file that does not fit is shown as missing and computed again. Strict types: no coercion of
"30" to 30, of 1.5 to 1 or of true to 1; JSON's non-standard Infinity and NaN are refused wherever they appear."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

STATUSES = ("running", "completed", "failed", "cancelled", "interrupted", "diverged")
FINISHED = tuple(status for status in STATUSES if status != "running")
MAX_NAME, MAX_TAGS, MAX_TAG, MAX_NOTE = 80, 10, 30, 2000
MAX_LENGTH = 512  # tokens: the longest input any architecture here reads
MAX_VOCAB = 1 << 22  # token ids a run may declare; the weights' shapes are checked against it before loading
MAX_DIM = 1 << 16  # an embedding width
MAX_FILE_BYTES = 16 << 20  # a run's JSON files are small; a larger one is damage, not a document
MAX_WHOLE = 1 << 63  # whole numbers beyond a signed 64-bit integer cannot be counts, ids or seeds
MAX_EPOCHS = 1000  # a run trains at most this many epochs (training.config's bound); a longer history is damage

Whole = Annotated[int, Field(strict=True, gt=-MAX_WHOLE, lt=MAX_WHOLE)]
Count = Annotated[int, Field(strict=True, ge=0, lt=MAX_WHOLE)]
Real = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Share = Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]
Percent = Annotated[float, Field(strict=True, ge=0, le=100, allow_inf_nan=False)]
Text = Annotated[str, Field(strict=True, max_length=10_000)]
Message = Annotated[str, Field(strict=True)]  # an error or a note: as long as it is (the file size bounds it)
RunId = Annotated[str, Field(strict=True, min_length=1, max_length=200)]


class Unreadable(ValueError):
    """A run file that does not fit its schema; the message is the reason shown beside the run."""


class FileSchema(BaseModel):
    """Declared fields are checked strictly; other keys (the training recipe, newer additions) pass through."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True, allow_inf_nan=False)


class RunConfig(FileSchema):
    """config.json: what was trained (the recipe's own fields are TrainConfig's) and where its data came from."""

    arch: Annotated[str, Field(strict=True, min_length=1, max_length=100)]
    kind: Literal["ensemble"] | None = None
    members: list[RunId] | None = None
    params: dict[str, Any] = {}
    max_length: Annotated[int, Field(strict=True, ge=1, le=MAX_LENGTH)] | None = None
    vocab_size: Annotated[int, Field(strict=True, ge=1, le=MAX_VOCAB)] | None = None
    pad_id: Annotated[int, Field(strict=True, ge=0, lt=MAX_VOCAB)] | None = None
    embedding_init_dim: Annotated[int, Field(strict=True, ge=1, le=MAX_DIM)] | None = None
    seed: Whole | None = None
    limit: Annotated[int, Field(strict=True, ge=1, lt=MAX_WHOLE)] | None = None
    classes: Annotated[list[Text], Field(min_length=1, max_length=1000)] | None = None
    teachers: list[RunId] = []
    transfer_augment: Annotated[int, Field(strict=True, ge=0, le=1000)] = 0
    train_examples: Count | None = None
    transfer_examples: Count = 0
    run_id: RunId | None = None
    created: Text | None = None
    data_source: Text | None = None
    eval_fingerprint: Text | None = None
    train_fingerprint: Text | None = None
    augment: Text | None = None
    pretrained: Text | None = None
    device: Text | None = None
    device_name: Text | None = None
    code_version: Text | None = None

    @model_validator(mode="after")
    def consistent(self) -> "RunConfig":
        if self.kind == "ensemble" and (self.members is None or len(self.members) < 2):
            raise ValueError("an ensemble lists at least two members")
        if self.kind == "ensemble" and self.run_id is not None and self.run_id in self.members:
            raise ValueError("an ensemble cannot list itself as a member")
        if self.pad_id is not None and self.vocab_size is not None and self.pad_id >= self.vocab_size:
            raise ValueError(f"pad_id {self.pad_id} is outside the vocabulary of {self.vocab_size}")
        return self


class ClassScores(FileSchema):
    precision: Share
    recall: Share
    f1: Share
    support: Count


class Majority(FileSchema):
    """Always answering the split's most common class: the class and the accuracy that earns."""

    label: Text
    accuracy: Percent


class Headline(FileSchema):
    """The validation figures of the weights kept; a multi-label run adds them at its fixed threshold."""

    accuracy: Percent | None = None
    macro_f1: Share | None = None
    accuracy_fixed: Percent | None = None
    macro_f1_fixed: Share | None = None
    majority: Majority | None = None


class OnnxCost(FileSchema):
    """cost.onnx: the run's ONNX export (see serving.onnx_export), its parity with PyTorch and both CPU costs."""

    file: Text
    verified: bool
    max_abs_diff: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
    pytorch: dict[str, Real] | None = None
    onnxruntime: dict[str, Real] | None = None
    onnx_cpu_latency_ms: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] | None = None
    onnx_cpu_sentences_per_s: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] | None = None


class Cost(FileSchema):
    """What using the model costs (see goemo_core.serving.cost); `error` when the measurement failed."""

    parameters: Count | None = None
    trainable_parameters: Count | None = None
    train_seconds: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] | None = None
    cpu_latency_ms: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] | None = None
    cpu_sentences_per_s: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] | None = None
    inference: dict[str, dict[str, Real]] | None = None
    onnx: OnnxCost | None = None
    error: Message | None = None


class RunMetrics(FileSchema):
    """metrics.json: test metrics (accuracy in %, F1 in 0–1), the validation headline, the cost."""

    accuracy: Percent | None = None
    macro_f1: Share | None = None
    macro_f1_std: Share | None = None
    per_class: dict[Text, ClassScores] | None = None
    confusion: list[list[Count]] | None = None
    validation: Headline | None = None
    cost: Cost | None = None
    examples: Count | None = None
    best_epoch: Count | None = None
    members: list[RunId] | None = None

    @model_validator(mode="after")
    def square(self) -> "RunMetrics":
        if self.confusion is not None:
            size = len(self.per_class) if self.per_class is not None else len(self.confusion)
            if not size or len(self.confusion) != size or any(len(row) != size for row in self.confusion):
                raise ValueError("'confusion' is not a square matrix of counts, one row per class")
        return self


class ReliabilityBin(FileSchema):
    """One equal-width confidence bin of a reliability diagram: its edges, how many predictions fell in it, their
    mean confidence and observed frequency (None when empty)."""

    lower: Share
    upper: Share
    count: Count
    confidence: Share | None = None
    accuracy: Share | None = None


class CalibrationFigures(FileSchema):
    ece: Share
    classwise_ece: Share
    brier: Annotated[float, Field(strict=True, ge=0, le=2, allow_inf_nan=False)]
    nll: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
    accuracy: Percent
    per_label_ece: dict[Text, Share] | None = None
    reliability: Annotated[list[ReliabilityBin], Field(min_length=1, max_length=1000)]


class RunCalibration(FileSchema):
    """calibration.json (see goemo_core.evaluation.calibration): the temperature fitted on the validation
    probabilities and the test figures before and after it, stamped with the probabilities file they come from.
    Derived from the run's other files: one that does not fit is computed again, never a reason to hide the run."""

    task: Text
    bins: Annotated[int, Field(strict=True, ge=1, le=1000)]
    multi_label: bool
    ece_kind: Literal["top-label", "mean per-label"]
    temperature: Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
    fitted_on: Literal["validation"]
    validation_nll: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
    validation_nll_calibrated: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
    examples: Count
    test: CalibrationFigures
    test_calibrated: CalibrationFigures
    probabilities_stamp: Text | None = None


class RunInfo(FileSchema):
    """info.json: facts known at the end of training."""

    best_epoch: Count | None = None
    seconds: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] | None = None
    parameters: Count | None = None
    epochs_run: Count | None = None
    precision: Text | None = None
    notes: list[Message] = []
    error: Message | None = None
    members: list[RunId] | None = None


class RunLabelFile(FileSchema):
    """label.json: what a user calls the run."""

    name: Annotated[str, Field(strict=True, max_length=MAX_NAME)] = ""
    tags: Annotated[list[Annotated[str, Field(strict=True, max_length=MAX_TAG)]], Field(max_length=MAX_TAGS)] = []
    note: Annotated[str, Field(strict=True, max_length=MAX_NOTE)] = ""


class RunOwner(FileSchema):
    """owner.json: the process that trains the run. `started` is its start time in clock ticks after boot
    (/proc/<pid>/stat), so a later process that reuses the pid is not taken for the owner."""

    pid: Annotated[int, Field(strict=True, ge=1, lt=MAX_WHOLE)]
    host: Text | None = None
    started: Count | None = None


class RunOrigin(FileSchema):
    """origin.json: where a run folder came from when it was not trained here (`runs pull`): the MLflow run it was
    rebuilt from, the tracking server (its secrets masked) and when."""

    source: Literal["mlflow"]
    mlflow_run_id: Annotated[str, Field(strict=True, min_length=1, max_length=200)]
    tracking_uri: Text
    experiment: Text | None = None
    pulled: Text


class EpochRecord(FileSchema):
    """One line of history.jsonl."""

    epoch: Annotated[int, Field(strict=True, ge=1, lt=MAX_WHOLE)]
    train_loss: Real | None = None
    train_accuracy: Real | None = None
    val_loss: Real | None = None
    val_accuracy: Real | None = None
    val_macro_f1: Real | None = None
    lr: Real | None = None
    seconds: Real | None = None
    examples_per_s: Real | None = None
    best: bool | None = None


# --- reading ------------------------------------------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-standard number {name}")


def loads_strict(text: str) -> Any:
    """JSON as the standard defines it: Infinity, -Infinity and NaN are refused."""
    return json.loads(text, parse_constant=_refuse_constant)


def read_text(path: Path) -> str | None:
    """A file's UTF-8 text; None when it does not exist; Unreadable when it cannot be read as such."""
    name = Path(path).name
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Unreadable(f"{name} cannot be read ({exc.strerror or type(exc).__name__})") from None
    if len(data) > MAX_FILE_BYTES:
        raise Unreadable(f"{name} is larger than {MAX_FILE_BYTES >> 20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"{name} is not UTF-8 text (byte {exc.start})") from None


def describe_error(name: str, error: ValidationError) -> str:
    """The first schema violation as one line: file, field, what is wrong."""
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"]
    if first["type"] == "model_type" and not where:
        return f"{name} holds {kind(first['input'])}, not an object"
    if first["type"] == "model_type":
        message = "should be an object"
    message = message.removeprefix("Value error, ").replace("Input should be", "should be")
    shown = "" if first["type"] in ("missing", "value_error") else f" (got {_shown(first['input'])})"
    return f"{name}: '{where}' {message[:1].lower()}{message[1:]}{shown}" if where else f"{name}: {message}{shown}"


def _shown(value: Any) -> str:
    text = repr(value)
    if len(text) <= 40:
        return text
    return f"a string of {len(value):,} characters" if isinstance(value, str) else kind(value)


def kind(value: Any) -> str:
    return {list: "a list", dict: "an object", str: "a string", type(None): "null", bool: "a boolean",
            float: "a decimal number"}.get(type(value), "a number")


def parse_document(name: str, text: str, schema: type[FileSchema]) -> dict:
    """The JSON document `text` of file `name`, validated by `schema`; Unreadable says why it does not fit."""
    try:
        document = loads_strict(text)
    except ValueError as exc:
        raise Unreadable(f"{name} is not valid JSON ({str(exc).splitlines()[0][:80]})") from None
    try:
        schema.model_validate(document)
    except ValidationError as exc:
        raise Unreadable(describe_error(name, exc)) from None
    except RecursionError:
        raise Unreadable(f"{name} is nested too deeply") from None
    return document


def read_document(path: Path, schema: type[FileSchema]) -> dict | None:
    """A run file through its schema: the document, None when the file does not exist, Unreadable otherwise."""
    text = read_text(path)
    return None if text is None else parse_document(Path(path).name, text, schema)


def read_status(path: Path) -> str | None:
    """The status word; None when there is no status file yet."""
    text = read_text(path)
    if text is None:
        return None
    status = text.strip()
    if status not in STATUSES:
        raise Unreadable(f"status {_shown(status[:40])} is not one of {', '.join(STATUSES)}")
    return status


def read_history(path: Path) -> list[dict]:
    """history.jsonl: one epoch record per line, epochs counting up from 1, at most MAX_EPOCHS of them."""
    text = read_text(path)
    records = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        if len(records) == MAX_EPOCHS:
            raise Unreadable(f"history.jsonl holds more than {MAX_EPOCHS:,} epochs, more than a run trains")
        record = parse_document(f"history.jsonl line {number}", line, EpochRecord)
        if record["epoch"] != len(records) + 1:
            raise Unreadable(f"history.jsonl line {number}: epoch {record['epoch']} where {len(records) + 1} "
                             "was expected")
        records.append(record)
    return records


def metrics_against_config(metrics: dict, config: dict) -> str | None:
    """Why metrics.json contradicts its config (the class names and count) or is missing half of what is written
    together (per-class scores come with a confusion matrix, or per-label counts on a multi-label task), or None."""
    classes = config.get("classes")
    per_class, confusion = metrics.get("per_class"), metrics.get("confusion")
    if per_class is not None and confusion is None and metrics.get("label_confusion") is None:
        return "metrics.json: 'per_class' scores without their 'confusion' matrix"
    if classes is None:
        return None
    if per_class is not None and len(per_class) != len(classes):
        return f"metrics.json: 'per_class' has {len(per_class)} classes, not {len(classes)}"
    if per_class is not None and list(per_class) != list(classes):
        unknown = [name for name in per_class if name not in classes] or list(per_class)
        def listed(names: list) -> str:
            return ", ".join(_shown(name) for name in names[:7]) + (", …" if len(names) > 7 else "")

        return (f"metrics.json: 'per_class' names {listed(unknown)} where config.json lists the classes "
                f"{listed(classes)}")
    if confusion is not None and len(confusion) != len(classes):
        return "metrics.json: 'confusion' is not a square matrix of counts, one row per class"
    return None


PREDICTION_COLUMNS = ("id", "text", "true", "predicted", "confidence")


def read_predictions(path: Path) -> "pandas.DataFrame | None":  # noqa: F821
    """test_predictions.csv through its schema: the columns id, text, true, predicted (text, exactly as written) and
    confidence (a number in [0, 1]); None when the file does not exist, Unreadable when it does not fit."""
    import io

    import pandas as pd

    text = read_text(path)
    if text is None:
        return None
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise Unreadable("test_predictions.csv holds no table") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise Unreadable(f"test_predictions.csv is not a CSV table ({str(exc).splitlines()[0][:80]})") from None
    missing = [column for column in PREDICTION_COLUMNS if column not in frame.columns]
    if missing:
        named = ", ".join(f"'{column}'" for column in missing)
        raise Unreadable(f"test_predictions.csv has no {named} column{'s' if len(missing) > 1 else ''}")
    confidence = pd.to_numeric(frame["confidence"], errors="coerce")
    if not confidence.between(0, 1).all():
        raise Unreadable("test_predictions.csv: 'confidence' holds values that are not probabilities")
    return frame.assign(confidence=confidence.astype(float))[list(PREDICTION_COLUMNS)]


def is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float (not a boolean)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
