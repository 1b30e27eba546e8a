"""Training objectives and the run engine (arrives with the model issue). Never imports gradio."""
