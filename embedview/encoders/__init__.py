"""Encoders: models that turn images or text into vectors.

``embedview.encoders.registry`` lists every encoder (built in and from the
``embedview.encoders`` entry-point group) without importing torch; an encoder's heavy modules
(torch, open_clip, timm, sentence_transformers) are imported only when it is loaded.
"""
