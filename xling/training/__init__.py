"""Training: the config, objectives, batches, the run engine (`python -m xling.training`). Never imports gradio."""
