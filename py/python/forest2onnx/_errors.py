"""The exceptions forest2onnx raises. Every one is a ``forest2onnx.Error``;
their messages are the command line's messages for the same problem."""

__all__ = [
    "Error",
    "LoadError",
    "UnsupportedModelError",
    "NotFittedError",
    "ExportError",
    "ValidationError",
    "ShapeError",
    "InputError",
]


class Error(Exception):
    """Base class of every forest2onnx error."""


class LoadError(Error):
    """A model file or object could not be read: not a model, damaged,
    truncated, or refused by the safe reader."""


class UnsupportedModelError(LoadError, TypeError):
    """The model was recognised but forest2onnx does not convert it (an
    estimator type, or something in it that cannot be reproduced exactly).
    The message lists what is supported."""


class NotFittedError(Error, ValueError):
    """The estimator has not been fitted."""


class ExportError(Error):
    """The forest cannot be exported exactly with the options given."""


class ValidationError(Error):
    """The exported model does not reproduce the forest (the message holds
    the row-by-row report), or cannot be compared with it."""


class ShapeError(Error, ValueError):
    """Rows with another number of features than the model takes."""


class InputError(Error, ValueError):
    """An argument of the wrong kind or value: non-numeric rows, feature
    names that do not match, an unknown option."""
