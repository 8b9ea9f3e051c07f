"""A thing that starts on entering a `with` block and stops on leaving it, and that
cleans up what a failed start left half made: written once, for the cluster
providers and the load runners (before, each wrote this try/except of its own).

    class Cluster(Started):
        def start(self) -> None: ...           # make it
        def stop_after(self, failed: bool) -> None: ...   # undo it
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any, Self

__all__ = ["Started"]

log = logging.getLogger(__name__)


class Started(ABC):
    @abstractmethod
    def start(self) -> Any:
        """Make the thing; may fail half way."""

    @abstractmethod
    def stop_after(self, failed: bool) -> None:
        """Undo what `start` made: after the block (`failed` when it raised), or after
        `start` itself raised (then `failed` is True and the start's error is the one
        that propagates)."""

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            try:
                self.stop_after(failed=True)
            except Exception:  # the start's error is the one to report
                log.exception("cleaning up after a failed start of %s failed", self)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.stop_after(failed=False)
            return
        try:
            self.stop_after(failed=True)
        except Exception:  # the block's error is the one to report, not the cleanup's
            log.exception("cleaning up %s after a failure failed", self)
