"""Errors of the model code that the tools report as one line (a wrong config value)."""


class EMOv2ArgumentError(ValueError):
    """An argument of ``EMOv2`` (``arch``, ``window_size``, ``out_indices``,
    ``frozen_stages``, ...) is invalid; the message says which and what is allowed."""


class UnknownArchError(EMOv2ArgumentError, KeyError):
    """``arch`` names no known arch, or an arch dict lacks a key."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ''
