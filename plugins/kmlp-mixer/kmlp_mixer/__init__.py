"""All-MLP vision models for kmlp: MLP-Mixer and ResMLP, from Keras layers and ``keras.ops`` only.

Importing this package imports no keras: kmlp reads ``kmlp_mixer.specs`` to list and validate. The layers live in
``kmlp_mixer.layers``; import it (or let ``kmlp.inference.load_model`` do so) before loading a saved model.
"""
