"""Borrowed arrays: the arrays a numba call is given, without reference counts.

numba counts the references to an array's memory (its meminfo) whenever the array is
bound: each array of a container passed to a call is counted up on entry and down on
exit, and each array of a container that a loop reassigns is counted at every turn.
Each count is an atomic operation, since the memory may be shared with other threads;
compiled days (engine/compiled.py), which call some thirty phase kernels a day with
containers of arrays, made hundreds of them a day.

Yet the arrays that Python hands to compiled days live for the whole call: the caller
holds them. `borrowed(value)` gives the same arrays (or a tuple of them, nested to any
depth: a named tuple stays one) without a meminfo, so that every count on them is a
test of a null pointer and nothing more. What a borrowed array may and may not do:

- be read, written, sliced and passed to any kernel, as long as the call lasts;
- be returned whole to Python: numba gives back the caller's own ndarray (its `parent`,
  which borrowed() keeps: the same memory, shape and strides). So a kernel that
  borrows is called from Python only: returned to a compiled caller, the array would
  stay borrowed, owned by nothing there;
- not be returned as a view (a slice, a row): numba would give back an ndarray over
  memory it does not own. `check_owned` finds any such array in what came back.

Arrays made inside the call (grown, scratch) are numba's own, counted as ever.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _without_meminfo(context: Any, builder: Any, ty: Any, value: Any) -> Any:
    """The LLVM value `value` of numba type `ty` with the meminfo of each array in it
    (an array, or a tuple of them, nested) set to null; other values as they are."""
    if isinstance(ty, types.Array):
        array = context.make_array(ty)(context, builder, value=value)
        array.meminfo = cgutils.get_null_value(array.meminfo.type)
        return array._getvalue()
    if isinstance(ty, types.BaseTuple):
        for i, item_ty in enumerate(ty.types):  # type: ignore[attr-defined]
            item = builder.extract_value(value, i)
            value = builder.insert_value(
                value, _without_meminfo(context, builder, item_ty, item), i
            )
    return value


def _incref_counted(context: Any, builder: Any, ty: Any, value: Any) -> None:
    """One reference more to each counted thing in `value` but its arrays, which
    borrowed() leaves without a meminfo: nothing to count on them."""
    if isinstance(ty, types.Array):
        return
    if isinstance(ty, types.BaseTuple):
        for i, item_ty in enumerate(ty.types):  # type: ignore[attr-defined]
            _incref_counted(context, builder, item_ty, builder.extract_value(value, i))
        return
    context.nrt.incref(builder, ty, value)


@intrinsic
def _borrowed(typingctx: Any, value: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ty = signature.args[0]
        stripped = _without_meminfo(context, builder, ty, args[0])
        # (the value returned is a new reference: to what is still counted in it)
        _incref_counted(context, builder, ty, stripped)
        return stripped

    return value(value), codegen


borrowed = cast(Callable[[Any], Any], _borrowed)
"""borrowed(value) in a numba kernel: `value` (an array, or a tuple of arrays and
numbers, nested) with its arrays borrowed: no reference counts, valid while the caller
holds the originals (the module's docstring says what a borrowed array may do)."""


def check_owned(value: Any, where: str) -> None:
    """Raise RuntimeError unless every ndarray in `value` (nested tuples: what compiled
    days give back) owns its memory or views an object that does: a borrowed array
    returned as a view (a slice, a row) would own nothing, and its memory could be
    freed under it."""
    if isinstance(value, np.ndarray):
        if value.base is None and not value.flags.owndata:
            raise RuntimeError(f"{where} gave back a borrowed array's view: it owns no memory")
    elif isinstance(value, tuple):
        for item in value:
            check_owned(item, where)
