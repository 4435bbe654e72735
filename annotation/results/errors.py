"""Errors of the results: a result that cannot be computed as asked."""


class ResultsError(ValueError):
    """A result asked for with parameters the study cannot answer (an unknown model, the
    same model twice, an unknown measure); `field` names the parameter at fault, if one
    is. The API answers 400 with the message under that field."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field
