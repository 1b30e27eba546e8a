"""The Gradio app: one ``*_tab.py`` module per tab. The only package that imports gradio."""
