"""Streamlit helpers shared by the pages (the views layer: with app_pages/, the only code that imports streamlit)."""
