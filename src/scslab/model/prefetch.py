"""Prefetch: ask the CPU to start loading an array element into cache ahead of its use.

Kernels that visit a sparse, increasing list of agents spend most of their time waiting
for memory: each agent's fields sit in a different cache line of arrays of 21.5 million
entries. Prefetching the fields of the agent a few steps ahead lets those loads overlap
with the work on the agents before it (docs/design.md, "Dense passes are compiled"); a
pass that walks the agents in order gains nothing from it. A prefetch is only a hint: it
never faults, and results do not depend on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
from llvmlite import binding, ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

AHEAD = 16
"""Sparse passes prefetch the fields of the agent this many places ahead of the one they
work on: far enough for the loads to arrive, near enough to stay in the cache."""

# The intrinsic's name carries its pointer type: typed (i8*) before LLVM 15, opaque after.
_LLVM_PREFETCH = "llvm.prefetch.p0" if binding.llvm_version_info >= (15,) else "llvm.prefetch.p0i8"


@intrinsic
def _prefetch(typingctx: Any, array: Any, index: Any) -> Any:
    if not (
        isinstance(array, types.Array) and array.ndim == 1 and isinstance(index, types.Integer)
    ):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        array_type = signature.args[0]
        arr = context.make_array(array_type)(context, builder, args[0])
        i = context.cast(builder, args[1], signature.args[1], types.intp)
        ptr = cgutils.get_item_pointer(context, builder, array_type, arr, [i], wraparound=False)
        byte_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, _LLVM_PREFETCH)
        # read (0), keep in all cache levels (3), data cache (1)
        args_ = [builder.bitcast(ptr, byte_ptr), ir.Constant(i32, 0), ir.Constant(i32, 3)]
        builder.call(fn, [*args_, ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen


prefetch = cast(Callable[[np.ndarray, int], None], _prefetch)
"""prefetch(array, i) in a numba kernel: a hint to load array[i] (1-d array, i an integer
in range) into cache; it does nothing else."""
