"""``TimeTrigger``: fire every ``time_gap`` seconds."""

from __future__ import annotations

from valence.triggers.base import BaseTrigger


class TimeTrigger(BaseTrigger):
    """Runs its dispatch again every ``time_gap`` seconds (the first time after one gap)."""

    def __init__(
        self,
        time_gap: float,
        lattice_dispatch_id: str | None = None,
        dispatcher_addr: str | None = None,
        triggers_server_addr: str | None = None,
    ) -> None:
        if isinstance(time_gap, bool) or not isinstance(time_gap, int | float) or time_gap <= 0:
            raise ValueError(f"TimeTrigger(time_gap=...) takes seconds > 0, not {time_gap!r}")
        super().__init__(lattice_dispatch_id, dispatcher_addr, triggers_server_addr)
        self.time_gap = time_gap

    def observe(self) -> None:
        flag = self.stop_flag
        assert flag is not None
        while not flag.wait(self.time_gap):
            self.trigger()
