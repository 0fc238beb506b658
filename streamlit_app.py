"""GoEmotions RNN Benchmark Studio: `streamlit run streamlit_app.py`."""

import streamlit as st

PAGES = {
    "Study": [
        st.Page("pages/study/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/study/data.py", title="Data", icon=":material/bar_chart:"),
        st.Page("pages/study/augment.py", title="Augment", icon=":material/auto_fix_high:"),
    ],
    "Experiments": [
        st.Page("pages/experiments/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/experiments/tune.py", title="Tune", icon=":material/tune:"),
        st.Page("pages/experiments/compare.py", title="Compare", icon=":material/compare:"),
        st.Page("pages/experiments/classify.py", title="Classify", icon=":material/chat:"),
    ],
}

st.set_page_config(page_title="GoEmotions RNN Benchmark Studio", page_icon=":material/psychology:", layout="wide")
st.navigation(PAGES).run()
