"""kmlp's built-in plugins, registered through kmlp's own entry points like any third-party plugin."""
