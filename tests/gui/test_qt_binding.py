"""Guards against a Qt binding that corrupts the interpreter.

PySide6 6.12.0 drops a reference to ``True`` on every Python-side ``Signal.emit()``; after a
few thousand emits (a few hundred map pans) Python aborts with "bool_dealloc".  pyproject
excludes that release; this test catches it (or a relapse) before a user does.
"""

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    plain = Signal()
    with_args = Signal(int, str)
    with_object = Signal(object)


def test_signal_emit_keeps_reference_counts():
    emitter = _Emitter()
    received = []
    emitter.with_object.connect(received.append)
    before_true, before_false = sys.getrefcount(True), sys.getrefcount(False)
    for i in range(200):
        emitter.plain.emit()
        emitter.with_args.emit(i, "x")
        emitter.with_object.emit(i)
    assert len(received) == 200
    # small drift from unrelated code is possible; a per-emit leak or loss is 200+
    assert abs(sys.getrefcount(True) - before_true) < 50
    assert abs(sys.getrefcount(False) - before_false) < 50
