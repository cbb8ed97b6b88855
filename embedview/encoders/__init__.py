"""Encoders: models that turn images or text into vectors.

``embedview.encoders.registry`` lists every encoder (built in and from the
``embedview.encoders`` entry-point group) without importing torch; an encoder's heavy modules
(torch, open_clip, timm, sentence_transformers) are imported only when it is loaded.
"""

import os as _os

# OpenMP worker threads (torch's CPU ops) must sleep, not spin, between parallel regions:
# embedview runs image decoding threads and the GUI next to the model, and on a busy 2-core
# machine spinning made MiniLM 10x slower (2.2 s vs 0.2 s for 6 sentences).  Read once, when
# torch loads its OpenMP runtime, which in embedview always happens after this package is
# imported; an explicit user setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
