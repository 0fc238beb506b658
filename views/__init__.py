"""Streamlit helpers shared by the pages (the views layer: with pages/, the only code that imports streamlit)."""
