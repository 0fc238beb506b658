"""Streamlit helpers shared by the pages (the views layer: the only package besides pages/ that imports streamlit)."""
