"""`tune` commands (being written)."""


def register(commands, parent) -> None:
    return None
