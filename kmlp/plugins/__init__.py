"""Plugins: ``registry`` (find entry points from metadata, then load specs, as separate steps), ``conformance``
(the contract kit behind ``kmlp plugins check``) and ``builtins`` (kmlp's own datasets and architectures,
registered through kmlp's entry points exactly like a third-party plugin). Nothing here imports keras until a
builder or loader runs."""
