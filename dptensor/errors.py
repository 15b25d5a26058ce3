"""Errors a user can act on. The CLI prints them as one line and exits with ``exit_code``."""


class DptError(Exception):
    """Base class of errors caused by the user's input, data or environment."""

    exit_code = 1


class InputError(DptError):
    """An ``input.json`` that does not validate; carries every problem found, each with its JSON path."""

    exit_code = 2

    def __init__(self, messages, source=None):
        if isinstance(messages, str):
            messages = [messages]
        self.messages = list(messages)
        self.source = source
        head = f"{source}: " if source else ""
        if len(self.messages) == 1:
            text = head + self.messages[0]
        else:
            text = head + f"{len(self.messages)} problems\n  " + "\n  ".join(self.messages)
        super().__init__(text)


class DataError(DptError):
    """A data system that cannot be read or whose arrays do not fit (names the file and shapes)."""

    exit_code = 2


class ModelFileError(DptError):
    """A model or checkpoint file that is missing, of another kind, or of another model type."""

    exit_code = 2


class OutputError(DptError):
    """A file or folder that cannot be written where the user asked (names the path and why)."""

    exit_code = 2


class TrainingError(DptError):
    """Training that cannot go on, e.g. a loss or weights that are no longer finite numbers."""


class BackendUnavailable(DptError):
    """A backend whose framework is not installed; the message names the extra to install."""

    exit_code = 2
