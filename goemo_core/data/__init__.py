"""GoEmotions and what is made of it: loading the splits and the Ekman taxonomy (`goemotions`), tasks (which labels,
single- or multi-label, how targets are built: `tasks`), and tokenizers with whole-split encoding (`text`).

May import: runs, settings, errors."""

from .goemotions import EKMAN_CLASSES, NUM_CLASSES, load_goemotions
from .tasks import DEFAULT_TASK, TASK_NAMES, Task, get_task

__all__ = ["DEFAULT_TASK", "EKMAN_CLASSES", "NUM_CLASSES", "TASK_NAMES", "Task", "get_task", "load_goemotions"]
