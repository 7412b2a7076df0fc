"""Recipes: the schema, reading TOML files and overrides, resolving and validating them, starter recipes.

``schema`` (sections and the :class:`~kmlp.recipe.schema.Recipe`), ``params`` (the typed-parameter language shared
with plugins), ``catalog`` (Keras optimizers, losses and metrics), ``files`` and ``overrides`` (raw input),
``resolve`` (validation: ``load`` and ``resolve``), ``checks`` (rules across sections), ``starter``
(``kmlp init``), and ``recipes/`` (the built-in recipe files). Nothing here imports keras.
"""
