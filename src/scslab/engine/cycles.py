"""The processor's cycle counter in numba kernels, for compiled days' time per phase
(engine/compiled.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from llvmlite import ir
from numba import types
from numba.extending import intrinsic


@intrinsic
def _read_cycle_counter(typingctx: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        fnty = ir.FunctionType(ir.IntType(64), [])
        fn = builder.module.declare_intrinsic("llvm.readcyclecounter", fnty=fnty)
        return builder.call(fn, [])

    return types.int64(), codegen


cycles = cast(Callable[[], int], _read_cycle_counter)
"""cycles() in a numba kernel: the processor's cycle counter (differences are cycles)."""
