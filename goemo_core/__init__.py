"""goemo_core: GoEmotions (Ekman 7 classes) benchmarking of recurrent architectures. Never imports streamlit."""

__version__ = "0.1.0"
