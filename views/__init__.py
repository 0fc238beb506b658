"""Streamlit helpers shared by the pages (the views layer: the only package besides app_pages/ that imports streamlit)."""
