"""The ``latentprobe`` command line (installed as ``latentprobe.cli``)."""
