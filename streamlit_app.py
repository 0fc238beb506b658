"""GoEmotions RNN Benchmark Studio: `streamlit run streamlit_app.py`."""

import streamlit as st

PAGES = {
    "Study": [
        st.Page("app_pages/study/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("app_pages/study/data.py", title="Data", icon=":material/bar_chart:"),
        st.Page("app_pages/study/augment.py", title="Augment", icon=":material/auto_fix_high:"),
    ],
    "Experiments": [
        st.Page("app_pages/experiments/train.py", title="Train", icon=":material/model_training:"),
        st.Page("app_pages/experiments/tune.py", title="Tune", icon=":material/tune:"),
        st.Page("app_pages/experiments/compare.py", title="Compare", icon=":material/compare:"),
        st.Page("app_pages/experiments/classify.py", title="Classify", icon=":material/chat:"),
    ],
}

st.set_page_config(page_title="GoEmotions RNN Benchmark Studio", page_icon=":material/psychology:", layout="wide")
st.navigation(PAGES).run()
