"""The one error type for bad input: the CLI prints its message as one line and exits 2."""


class InputError(ValueError):
    """Bad user input: a missing or malformed file, a wrong shape, an unknown name, an impossible value.

    The message is one line that names what was wrong, what was expected and what was found.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
