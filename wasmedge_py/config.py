"""Config: the engine options an instance is created with."""

from __future__ import annotations

from . import _checks, executor
from ._ffi import lib
from ._handle import Handle

# 64 KiB per page; 0 would leave WasmEdge's own default of 65536 pages (4 GiB).
DEFAULT_MAX_MEMORY_PAGES = 65536


class Config(Handle):
    """Engine configuration. Options are fixed at construction so one Config can be shared."""

    _kind = "config"

    def __init__(
        self,
        *,
        max_memory_pages: int | None = None,
        force_interpreter: bool = False,
        instruction_counting: bool = False,
        cost_measuring: bool = False,
        time_measuring: bool = False,
    ) -> None:
        if max_memory_pages is not None:
            _checks.integer(max_memory_pages, "max_memory_pages", 1, DEFAULT_MAX_MEMORY_PAGES)
        for name, flag in (
            ("force_interpreter", force_interpreter),
            ("instruction_counting", instruction_counting),
            ("cost_measuring", cost_measuring),
            ("time_measuring", time_measuring),
        ):
            _checks.boolean(flag, name)

        def delete(ptr) -> None:
            executor.forget_config(ptr)  # the executors made from it, pooled by executor.py
            lib.WasmEdge_ConfigureDelete(ptr)

        super().__init__(lib.WasmEdge_ConfigureCreate(), delete)
        ptr = self._ptr
        if max_memory_pages is not None:
            lib.WasmEdge_ConfigureSetMaxMemoryPage(ptr, max_memory_pages)
        lib.WasmEdge_ConfigureSetForceInterpreter(ptr, force_interpreter)
        lib.WasmEdge_ConfigureStatisticsSetInstructionCounting(ptr, instruction_counting)
        lib.WasmEdge_ConfigureStatisticsSetCostMeasuring(ptr, cost_measuring)
        lib.WasmEdge_ConfigureStatisticsSetTimeMeasuring(ptr, time_measuring)
        self.max_memory_pages = lib.WasmEdge_ConfigureGetMaxMemoryPage(ptr)
        self.force_interpreter = force_interpreter
        self.instruction_counting = instruction_counting
        self.cost_measuring = cost_measuring
        self.time_measuring = time_measuring

    @property
    def wants_statistics(self) -> bool:
        return self.instruction_counting or self.cost_measuring or self.time_measuring

    def __repr__(self) -> str:
        return (
            f"Config(max_memory_pages={self.max_memory_pages}, force_interpreter={self.force_interpreter}, "
            f"instruction_counting={self.instruction_counting}, cost_measuring={self.cost_measuring})"
        )
